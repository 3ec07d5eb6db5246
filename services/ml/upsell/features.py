"""The upsell model's features, which now live in services.common.upsell.features (the nlp room serves the
model and may not import services.ml). Re-exported here so training code and older imports keep working;
new code should import services.common.upsell.features.
"""

from services.common.upsell.features import (
    CATEGORICAL_FEATURES,
    FEATURES,
    SEASONS,
    Examples,
    FloatMatrix,
    RowContext,
    UpsellVocabulary,
    build_examples,
    candidate_features,
    example_features,
    known_items,
    number,
    parse_datetime,
    row_context,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURES",
    "SEASONS",
    "Examples",
    "FloatMatrix",
    "RowContext",
    "UpsellVocabulary",
    "build_examples",
    "candidate_features",
    "example_features",
    "known_items",
    "number",
    "parse_datetime",
    "row_context",
]
