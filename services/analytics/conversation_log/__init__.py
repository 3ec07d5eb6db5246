"""The `logger` worker kind's room: turns, analyses and outcomes into the seed-shaped conversation log."""
