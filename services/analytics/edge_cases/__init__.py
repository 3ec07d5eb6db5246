"""The `edge-cases` worker kind's room: the ML guide's edge-case flags and the ML improvements summary's prediction log."""
