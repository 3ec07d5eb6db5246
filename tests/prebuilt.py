"""The small models the tests serve, and the NLP artefacts trained in a child process while the session's
first tests run.

Training the NLP artefacts is CPU work (about half a minute, distilling the embeddings included on a fresh
clone); the session's first stack tests mostly wait (workers joining their consumer groups, records crossing
the pipeline). Started as soon as collection shows that a selected test needs them, the two overlap, and the
fixture `nlp_artifacts_dir` waits for them if they are not ready yet. The recipe is the fixture's own: nothing
about the artefacts changes, only when they are built.

Run as `python -m tests.prebuilt ROOT KIND...`, it builds each kind into ROOT/KIND in order and marks each
finished one with ROOT/KIND.done.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Each kind built in the background, and the session fixture that serves it. The tiny escalation model is
# built where its fixture asks for it, not here: its training times torch against ONNX Runtime to choose the
# backend it serves, and beside the session's busiest start-up the race could go either way.
BACKGROUND_FIXTURES = {"nlp": "nlp_artifacts_dir"}
# Far above a normal build (seconds) on a loaded 2-core machine; a hung build fails its tests instead.
BUILD_TIMEOUT_S = 900


def build(kind: str, target: Path) -> None:
    """One model, as the tests serve it."""
    if kind == "nlp":
        # Small NLP artefacts (domain data only); reuses a distilled embedding model if one is cached.
        from services.common.textmodel.artefacts import STATIC_SUBDIR
        from services.ml.training import train
        from services.nlp.defaults import default_artifact_dir

        cached = default_artifact_dir() / STATIC_SUBDIR
        train(target, public_data=False, static_from=cached if cached.exists() else None)
    elif kind == "escalation":
        # A tiny escalation model (the encoder cut to one layer, a few hundred rows, one pass): it exports
        # ONNX int8 too, and behaves like the real one everywhere but in accuracy.
        from services.ml.escalation.training import train_escalation

        train_escalation(target, public_data=False, layers=1, max_rows=320, epochs=1, threads=1)
    else:
        raise ValueError(f"no such model kind: {kind}")


class PrebuiltModels:
    """The child process building the session's models, and where each one lands."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        self.root = Path(tempfile.mkdtemp(prefix="teppan-test-models-"))
        self.log = self.root / "build.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.prebuilt", str(self.root), *kinds],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_for(self, kind: str, timeout_s: float = BUILD_TIMEOUT_S) -> Path:
        """The built model's folder, once the child has finished it; raises if the build failed or hung."""
        if kind not in self.kinds:
            raise KeyError(kind)
        done = self.root / f"{kind}.done"
        deadline = time.monotonic() + timeout_s
        while not done.exists():
            if self.process.poll() is not None and not done.exists():
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"building the test {kind} model failed (exit {self.process.returncode}):\n{tail}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise TimeoutError(f"building the test {kind} model took over {timeout_s:.0f} s")
            time.sleep(0.1)
        return self.root / kind

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> None:
    root, kinds = Path(argv[0]), argv[1:]
    for kind in kinds:
        build(kind, root / kind)
        (root / f"{kind}.done").touch()


if __name__ == "__main__":
    main(sys.argv[1:])
