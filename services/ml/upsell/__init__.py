"""The upsell model (the ML guide's "Model 3: upsell prediction"): which offered upsells a customer accepts.

`features` turns a dataset row into one example per offered item (pure); `model` trains it with gradient
boosting, scores it against the popularity baseline on the latest conversations, and saves the folder that
`UpsellModel` serves. The features and the serving half live in services.common.upsell, where the nlp room
can use them; they are re-exported here.
"""

from services.ml.upsell.model import UpsellModel, run_upsell_training, train_upsell

__all__ = ["UpsellModel", "run_upsell_training", "train_upsell"]
