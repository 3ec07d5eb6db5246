"""Analytics: one room per worker kind, each a pure core, a store behind a Protocol and a thin
handler on the shared consumer loop; `reports` is the read side behind the CLI, `/metrics` and the rules.
"""
