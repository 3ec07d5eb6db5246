"""The fast path's defaults, for callers that need them without loading its rules (which take about half a
second to import): the CLI, which every worker process and command imports first."""

from __future__ import annotations

import os
from pathlib import Path

# A turn whose overall confidence is below this escalates to the slow path (the business's ML guide: the
# rules' answer when confidence > 0.8, else the ML model's).
DEFAULT_THRESHOLD = 0.8


def default_artifact_dir() -> Path:
    """$TEPPAN_DATA_DIR/models/nlp, with TEPPAN_DATA_DIR defaulting to .teppan."""
    return Path(os.environ.get("TEPPAN_DATA_DIR", ".teppan")) / "models" / "nlp"
