"""The serving half of the upsell model (the ML guide's "Model 3: upsell prediction").

It lives below both rooms that use it: services.ml trains and saves the model (services.ml.upsell), and
services.nlp loads a saved folder and scores bookings in progress; neither room may import the other.
`features` turns a dataset row, or a booking in progress, into one vector per item (pure, and the same code
for training and serving); `model` reads a saved folder and scores. Training and evaluation stay in
services.ml.
"""

from services.common.upsell.features import (
    CATEGORICAL_FEATURES,
    FEATURES,
    SEASONS,
    UpsellVocabulary,
    candidate_features,
)
from services.common.upsell.model import (
    META_FILE,
    MODEL_FILE,
    MODEL_VERSION_PREFIX,
    UpsellModel,
    is_built,
    read_meta,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURES",
    "META_FILE",
    "MODEL_FILE",
    "MODEL_VERSION_PREFIX",
    "SEASONS",
    "UpsellModel",
    "UpsellVocabulary",
    "candidate_features",
    "is_built",
    "read_meta",
]
