"""The `alerts` worker kind's room: decides which alert rules and budgets fire, with cooldowns."""
