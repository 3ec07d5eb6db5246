"""The `edge-cases` worker kind's room: seed 000's edge-case flags and seed 004's prediction log."""
