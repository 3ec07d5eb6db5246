"""The child process that trains the session's NLP artefacts in the background (`tests.prebuilt`): a build
that fails fails the tests that wait for it, with the child's own error, and leaves nothing behind."""

from __future__ import annotations

import pytest

from tests.prebuilt import PrebuiltModels


def test_a_failed_build_raises_with_the_childs_error_and_cleans_up() -> None:
    prebuilt = PrebuiltModels(["no-such-kind"])
    try:
        with pytest.raises(RuntimeError, match="no such model kind: no-such-kind"):
            prebuilt.wait_for("no-such-kind", timeout_s=60)
        with pytest.raises(KeyError):
            prebuilt.wait_for("nlp")  # never asked of the child
    finally:
        prebuilt.close()
    assert not prebuilt.root.exists()
    assert prebuilt.process.returncode not in (None, 0)
