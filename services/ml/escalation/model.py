"""The escalation model: the packaged all-MiniLM-L6-v2 encoder, fine-tuned, with three heads on one pass.

One multi-task model, not one per head: every escalated turn needs all three answers (tone, intent,
sentiment), so one encoder pass serves them at a third of the cost of three models, and a masked loss lets
rows that label only some heads (the public sets label intent or tone, never all three) train the same
encoder.

Serving runs either plain torch (fp16 on CUDA) or ONNX Runtime with int8 dynamic quantisation on CPU;
training measures both and records in `meta.json` which CPU backend wins while its accuracy holds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from schemas.vocabulary import INTENTS, SENTIMENTS, TONES
from services.common import model_folder
from services.common.model_folder import META_FILE as META_FILE  # re-exported: the trainers write it
from services.common.model_folder import read_meta

# Heads in output order, each with its labels (the shared vocabulary's order).
HEADS: dict[str, tuple[str, ...]] = {"tone": TONES, "intent": INTENTS, "sentiment": tuple(SENTIMENTS)}
MAX_TOKENS = 64
MODEL_VERSION_PREFIX = "escalation-minilm-1"
TORCH_WEIGHTS = "model.pt"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
TOKENIZER_DIR = "tokenizer"
# The most texts one model call takes; a larger group is split into calls of similar lengths (see `logits`).
# Measured with `teppan bench escalation` (docs/benchmarks.md).
CALL_BATCH_SIZE = 16


def build_network(config_dir: Path, *, layers: int | None = None, pretrained: bool) -> Any:
    """The encoder (optionally cut to its first `layers` layers, for tests) with the three heads on top.

    `pretrained` loads the packaged MiniLM's weights (to fine-tune); otherwise the layers are built from
    `config_dir`'s config alone, for a saved state dict to fill.
    """
    import torch
    import transformers
    from transformers import AutoConfig, AutoModel

    # The library's load report and progress bars would interleave with Teppan's own progress.
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    config = AutoConfig.from_pretrained(config_dir, local_files_only=True)
    if layers is not None:
        config.num_hidden_layers = layers
    if pretrained:
        encoder = AutoModel.from_pretrained(config_dir, config=config, local_files_only=True)
    else:
        encoder = AutoModel.from_config(config)

    class MultiHeadEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            hidden = encoder.config.hidden_size
            self.dropout = torch.nn.Dropout(0.1)
            self.heads = torch.nn.ModuleDict(
                {name: torch.nn.Linear(hidden, len(labels)) for name, labels in HEADS.items()}
            )

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any, Any]:
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            # Mean pooling over real tokens: what all-MiniLM-L6-v2 was trained to embed with.
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = self.dropout(pooled)
            return tuple(self.heads[name](pooled) for name in HEADS)

    return MultiHeadEncoder()


def encodable(text: str) -> str:
    """`text` as the tokenizer can take it: a lone surrogate (valid in a JSON string, not in UTF-8) would make
    it raise, so each becomes "?". Everything else passes unchanged."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


class BatchTokenizer:
    """The packaged MiniLM's own fast tokenizer (its `tokenizer.json`), run by the `tokenizers` library that
    transformers wraps: the same ids and masks as transformers' tokenizer called with truncation to
    `MAX_TOKENS` and padding to the longest text, without importing transformers and torch, which took
    about six of the escalation worker's seven seconds of start-up on the CPU."""

    def __init__(self, folder: Path, max_length: int = MAX_TOKENS) -> None:
        from tokenizers import Tokenizer

        config_file = folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.exists() else {}
        pad_token = str(config.get("pad_token") or "[PAD]")
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id(pad_token), pad_token=pad_token)

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention masks, one row per text, padded on the right to the longest."""
        if not texts:
            return np.zeros((0, 0), dtype=np.int64), np.zeros((0, 0), dtype=np.int64)
        encodings = self._tokenizer.encode_batch([encodable(text) for text in texts])
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        return ids, mask


def cuda_available() -> bool:
    """`torch.cuda.is_available()`, without importing torch on a Linux machine with no NVIDIA driver loaded
    (no /proc/driver/nvidia, no /dev/nvidiaN, and no /dev/dxg, WSL 2's GPU), where it can only be False:
    torch and transformers cost several seconds of a worker's start-up."""
    if sys.platform.startswith("linux") and not (
        Path("/proc/driver/nvidia").exists() or Path("/dev/dxg").exists() or any(Path("/dev").glob("nvidia[0-9]*"))
    ):
        return False
    import torch

    return bool(torch.cuda.is_available())


@dataclass(frozen=True)
class EscalationPrediction:
    """The model's answer for one text: each head's label and calibrated probabilities."""

    tone: str
    tone_probs: dict[str, float]
    intent: str
    intent_probs: dict[str, float]
    sentiment: str
    sentiment_probs: dict[str, float]

    @property
    def confidence(self) -> float:
        """The weakest of the tone and intent confidences, as the fast path's overall confidence is."""
        return min(max(self.tone_probs.values()), max(self.intent_probs.values()))


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / max(temperature, 1e-3)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predictions_from_logits(
    logits: Sequence[np.ndarray], temperatures: dict[str, float]
) -> list[EscalationPrediction]:
    probs = {
        name: softmax(np.asarray(z, dtype=np.float64), temperatures.get(name, 1.0))
        for name, z in zip(HEADS, logits, strict=True)
    }
    out = []
    for row in range(len(logits[0])):
        per_head = {
            name: {label: round(float(p), 4) for label, p in zip(HEADS[name], probs[name][row], strict=True)}
            for name in HEADS
        }
        best = {name: HEADS[name][int(np.argmax(probs[name][row]))] for name in HEADS}
        out.append(
            EscalationPrediction(
                tone=best["tone"],
                tone_probs=per_head["tone"],
                intent=best["intent"],
                intent_probs=per_head["intent"],
                sentiment=best["sentiment"],
                sentiment_probs=per_head["sentiment"],
            )
        )
    return out


def is_built(directory: Path) -> bool:
    return model_folder.is_built(directory, weights_file=TORCH_WEIGHTS, version_prefix=MODEL_VERSION_PREFIX)


class EscalationModel:
    """Loads a built model folder and answers batches of texts; one instance per worker process.

    `backend` is "torch" or "onnx-int8"; by default CUDA when available (torch, fp16), else the CPU backend
    that training measured as faster with its accuracy held. `threads` caps the CPU threads it uses, so on
    a 2-core machine the slow path cannot starve the fast path.
    """

    def __init__(
        self,
        directory: Path,
        *,
        backend: str | None = None,
        device: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.directory = directory
        self.meta = read_meta(directory)
        self.version = str(self.meta["model_version"])
        self.temperatures: dict[str, float] = {
            k: float(v) for k, v in self.meta.get("temperatures", {}).items()
        }
        self.device = device or ("cuda" if cuda_available() else "cpu")
        chosen = backend or (self.meta.get("cpu_backend", "torch") if self.device == "cpu" else "torch")
        if chosen == "onnx-int8" and not (directory / ONNX_INT8_FILE).exists():
            chosen = "torch"
        self.backend = chosen
        self.tokenizer = BatchTokenizer(directory / TOKENIZER_DIR)
        self._session: Any = None
        self._network: Any = None
        if chosen == "onnx-int8":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            if threads is not None:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(
                str(directory / ONNX_INT8_FILE), options, providers=["CPUExecutionProvider"]
            )
        else:
            import torch

            if threads is not None:
                torch.set_num_threads(threads)
            network = build_network(
                directory / TOKENIZER_DIR, layers=int(self.meta["layers"]), pretrained=False
            )
            network.load_state_dict(
                torch.load(directory / TORCH_WEIGHTS, map_location="cpu", weights_only=True)
            )
            network.eval()
            if self.device.startswith("cuda"):
                network = network.half()
            self._network = network.to(self.device)

    def logits(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each head's logits for `texts`, in their order.

        The texts are sorted by token count and run in calls of at most `CALL_BATCH_SIZE`, each padded only
        to its own longest text. Chat messages vary widely in length (on the bench's messages the longest
        of 16 in arrival order is 2.2 times the mean), so a group padded as one call spends about half its
        work on padding; sorted calls of similar lengths do not.
        """
        if not texts:
            return [np.zeros((0, len(labels))) for labels in HEADS.values()]
        ids, mask = self.tokenizer.encode(texts)
        lengths = mask.sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        outputs = [np.zeros((len(texts), len(labels)), dtype=np.float32) for labels in HEADS.values()]
        for start in range(0, len(texts), CALL_BATCH_SIZE):
            rows = order[start : start + CALL_BATCH_SIZE]
            width = int(lengths[rows].max())  # the tokenizer pads on the right
            for output, part in zip(outputs, self._run(ids[rows, :width], mask[rows, :width]), strict=True):
                output[rows] = part
        return outputs

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
        if self._session is not None:
            outputs = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            return [np.asarray(o, dtype=np.float32) for o in outputs]
        import torch

        with torch.inference_mode():
            result = self._network(
                torch.from_numpy(ids).to(self.device), torch.from_numpy(mask).to(self.device)
            )
        return [r.float().cpu().numpy() for r in result]

    def predict(self, texts: Sequence[str]) -> list[EscalationPrediction]:
        return predictions_from_logits(self.logits(texts), self.temperatures)
