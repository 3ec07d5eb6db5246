"""Operations on a running stack's data: backup and restore, retention, and forgetting a customer."""
