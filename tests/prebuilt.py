"""The small models the tests serve, built once per test run and shared by every pytest-xdist worker.

Training the NLP artefacts is CPU work (about 15 s: distilling the static embeddings through MiniLM's first
layer, then the heads); the run's first stack tests mostly wait (workers joining their consumer groups,
records crossing the pipeline). Started in a child process as soon as collection shows that a selected test needs them, the
two overlap, and the fixture `nlp_artifacts_dir` waits for them if they are not ready yet. The tiny
escalation model is built in the process whose fixture first asks for it: its training times torch against
ONNX Runtime to choose the backend it serves, and beside the busiest start-up the race could go either way.

With `pytest -n 2 --lanes` two xdist workers run the suite in two lanes (see `tests/conftest.py`). Each model is still
built once: the run's root folder is made by the controlling process and handed to the workers in
`TEPPAN_TEST_MODELS_ROOT`, the first process to claim a kind (an atomic `mkdir`) builds it, and the others
wait for its `KIND.done` marker, or fail with the builder's error from `KIND.failed`.

Run as `python -m tests.prebuilt ROOT KIND...`, it builds each kind into ROOT/KIND in order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The folder every process of one test run builds into and reads from.
ROOT_ENV = "TEPPAN_TEST_MODELS_ROOT"
# Each kind built in a background child, and the session fixture that serves it.
BACKGROUND_FIXTURES = {"nlp": "nlp_artifacts_dir"}
# Far above a normal build (seconds) on a loaded 2-core machine; a hung build fails its tests instead.
BUILD_TIMEOUT_S = 900


def build(kind: str, target: Path) -> None:
    """One model, as the tests serve it."""
    if kind == "nlp":
        # Small NLP artefacts (domain data only), their static embeddings distilled through MiniLM's first
        # layer only: 7 s of CPU instead of 27 s, and the same on every machine (a cached full-size model in
        # the checkout's .teppan is not reused).
        from services.ml.training import train

        train(target, public_data=False, distill_layers=1)
    elif kind == "escalation":
        # A tiny escalation model (the encoder cut to one layer, a few hundred rows, one pass): it exports
        # ONNX int8 too, and behaves like the real one everywhere but in accuracy.
        from services.ml.escalation.training import train_escalation

        train_escalation(target, public_data=False, layers=1, max_rows=320, epochs=1, threads=1)
    else:
        raise ValueError(f"no such model kind: {kind}")


def build_and_mark(root: Path, kind: str) -> None:
    """Builds one kind into ROOT/KIND and marks it done, or records why it failed and re-raises."""
    try:
        build(kind, root / kind)
    except BaseException:
        (root / f"{kind}.failed").write_text(traceback.format_exc())
        raise
    (root / f"{kind}.done").touch()


class SharedModels:
    """One test run's models in one folder, whichever process builds each of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def claim(self, kind: str) -> bool:
        """True for the one process that is to build `kind`; every later claim in the run is False."""
        try:
            (self.root / f"{kind}.claimed").mkdir()
        except FileExistsError:
            return False
        return True

    def start_in_background(self, kind: str) -> None:
        """Starts building `kind` in a child process, unless another process of the run already did."""
        if not self.claim(kind):
            return
        with (self.root / f"{kind}.log").open("wb") as log:
            self.children[kind] = subprocess.Popen(
                [sys.executable, "-m", "tests.prebuilt", str(self.root), kind],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def get(self, kind: str, timeout_s: float = BUILD_TIMEOUT_S) -> Path:
        """The built model's folder: built here when no process of the run has claimed it, else waited for."""
        if self.claim(kind):
            build_and_mark(self.root, kind)
        return self.wait_for(kind, timeout_s)

    def wait_for(self, kind: str, timeout_s: float = BUILD_TIMEOUT_S) -> Path:
        """Waits for `kind`'s marker; raises with the builder's error if the build failed or hung."""
        done, failed = self.root / f"{kind}.done", self.root / f"{kind}.failed"
        if not (self.root / f"{kind}.claimed").exists():
            raise KeyError(f"no process of this run builds {kind}")
        deadline = time.monotonic() + timeout_s
        while not done.exists():
            if failed.exists():
                raise RuntimeError(f"building the test {kind} model failed:\n{failed.read_text()[-3000:]}")
            child = self.children.get(kind)
            if child is not None and child.poll() is not None and not (done.exists() or failed.exists()):
                log = (self.root / f"{kind}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"building the test {kind} model died (exit {child.returncode}):\n{log}")
            if time.monotonic() > deadline:
                if child is not None:
                    child.kill()
                raise TimeoutError(f"building the test {kind} model took over {timeout_s:.0f} s")
            time.sleep(0.1)
        return self.root / kind

    def close(self, *, interrupted: bool = False) -> None:
        """Lets this process's background builds finish (another worker may be waiting for them), then
        reaps them; kills them at once when the run was interrupted, or after the build timeout."""
        for child in self.children.values():
            try:
                child.wait(timeout=0 if interrupted else BUILD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def make_run_root() -> Path:
    """A new folder for one test run's models, announced to the processes started after this."""
    root = Path(tempfile.mkdtemp(prefix="teppan-test-models-"))
    os.environ[ROOT_ENV] = str(root)
    return root


def remove_run_root(root: Path) -> None:
    os.environ.pop(ROOT_ENV, None)
    shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> None:
    root, kinds = Path(argv[0]), argv[1:]
    for kind in kinds:
        build_and_mark(root, kind)


if __name__ == "__main__":
    main(sys.argv[1:])
