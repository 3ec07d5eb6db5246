"""Builds one small set of NLP artefacts per test session (domain data only), reusing a distilled model if present."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.textmodel.artefacts import STATIC_SUBDIR
from services.ml.training import train
from services.nlp.fast_path import FastPath, default_artifact_dir


@pytest.fixture(scope="session")
def nlp_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nlp_artifacts")
    existing = default_artifact_dir() / STATIC_SUBDIR
    train(out, public_data=False, static_from=existing if existing.exists() else None)
    return out


@pytest.fixture(scope="session")
def fast_path(nlp_artifacts: Path) -> FastPath:
    return FastPath.load(nlp_artifacts)
