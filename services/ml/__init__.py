"""The ML room: builds and evaluates the models the other rooms serve (today the NLP fast path's heads)."""
