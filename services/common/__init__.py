"""What two or more service rooms share, defined once below them: ingest, nlp, ml and analytics import
from here and never from each other. Nothing here imports those rooms.
"""
