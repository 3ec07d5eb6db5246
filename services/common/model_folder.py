"""A built model folder: its `meta.json`, and whether it holds a model of the format this code reads.

Shared by the escalation model (the ml room) and the upsell model (served by the nlp room).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

META_FILE = "meta.json"


def read_meta(directory: Path) -> dict[str, Any]:
    return dict(json.loads((directory / META_FILE).read_text(encoding="utf-8")))


def is_built(directory: Path, *, weights_file: str, version_prefix: str) -> bool:
    """Whether `directory` holds `weights_file` and a meta.json whose model_version starts with
    `version_prefix` (a folder of an older format is not served)."""
    try:
        meta = read_meta(directory)
    except (OSError, ValueError):
        return False
    return (directory / weights_file).exists() and str(meta.get("model_version", "")).startswith(version_prefix)
