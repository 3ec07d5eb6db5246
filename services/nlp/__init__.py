"""Teppan NLP fast path: rules for slots, compact learned heads for tone, intent and sentiment.

This room serves the artefacts services.ml builds; it never trains them.
"""
