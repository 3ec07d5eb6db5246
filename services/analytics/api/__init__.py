"""The owner's JSON API under `/api/` (docs/api.md): the dashboard's figures, conversations, the labelling queue."""
