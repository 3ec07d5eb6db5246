"""The NLP tests use the session's one set of small artefacts (domain data only), trained once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.nlp.fast_path import FastPath


@pytest.fixture(scope="session")
def nlp_artifacts(nlp_artifacts_dir: Path) -> Path:
    # The root conftest trains them for the worker tests too; training twice cost a minute a run.
    return nlp_artifacts_dir


@pytest.fixture(scope="session")
def fast_path(nlp_artifacts: Path) -> FastPath:
    return FastPath.load(nlp_artifacts)
