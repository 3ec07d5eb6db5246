"""Tools, not services: demo traffic and other developer tooling, kept apart from the production rooms.

Nothing in `services/ingest`, `nlp`, `ml` or `analytics` imports from here; tools may import any room.
"""
