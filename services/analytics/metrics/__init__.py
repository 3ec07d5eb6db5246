"""The `metrics` worker kind's room: one-minute windows with mergeable sketches, usage, surveys, labels."""
