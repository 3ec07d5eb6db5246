"""The fast path's learned text model: features, linear heads and the artefact files that hold them.

It lives below both rooms that use it: services.ml builds and writes the artefacts, services.nlp loads and
serves them, and neither room may import the other. Fitting (scikit-learn, model2vec distillation) stays
in services.ml; only what both sides must agree on is here.
"""
