"""Teppan NLP fast path: rules for slots, compact learned heads for tone, intent and sentiment."""
