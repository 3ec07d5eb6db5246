"""The session's models (`tests.prebuilt`), built once per test run whichever process asks first: a build
that fails fails every process waiting for it with the builder's own error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.prebuilt import SharedModels


def test_a_failed_background_build_raises_with_the_childs_error(tmp_path: Path) -> None:
    models = SharedModels(tmp_path)
    models.start_in_background("no-such-kind")
    try:
        with pytest.raises(RuntimeError, match="no such model kind: no-such-kind"):
            models.wait_for("no-such-kind", timeout_s=60)
        # Another process of the run (a second xdist worker) sees the same failure, not a build of its own.
        other = SharedModels(tmp_path)
        with pytest.raises(RuntimeError, match="no such model kind: no-such-kind"):
            other.get("no-such-kind", timeout_s=5)
        with pytest.raises(KeyError):
            other.wait_for("nlp")  # claimed by nobody
    finally:
        models.close()
    assert models.children["no-such-kind"].returncode not in (None, 0)


def test_a_kind_is_claimed_once_per_run(tmp_path: Path) -> None:
    first, second = SharedModels(tmp_path), SharedModels(tmp_path)
    assert first.claim("nlp")
    assert not second.claim("nlp")
    assert not first.claim("nlp")


def test_a_waiter_gets_the_folder_once_the_builder_marks_it_done(tmp_path: Path) -> None:
    builder, waiter = SharedModels(tmp_path), SharedModels(tmp_path)
    assert builder.claim("nlp")
    with pytest.raises(TimeoutError):
        waiter.wait_for("nlp", timeout_s=0.3)
    (tmp_path / "nlp.done").touch()
    assert waiter.get("nlp", timeout_s=1) == tmp_path / "nlp"


def test_an_interrupted_run_kills_its_build_at_once(tmp_path: Path) -> None:
    models = SharedModels(tmp_path)
    models.start_in_background("nlp")
    started = time.monotonic()
    models.close(interrupted=True)
    assert time.monotonic() - started < 10
    assert models.children["nlp"].returncode not in (None, 0)
    assert not (tmp_path / "nlp.done").exists()
