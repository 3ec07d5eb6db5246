"""Linear classification heads over [embedding | n-grams], served with numpy (services.ml.fitting fits them).

At serving time every head's weights are stacked into one matrix, so a message costs one gather-and-sum over
its n-gram rows plus one small matrix-vector product, whatever the number of heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.common.textmodel.featurizer import MIN_NORM, Featurizer


@dataclass
class HeadSpec:
    name: str
    labels: list[str]
    coef_dense: np.ndarray  # (classes, dim)
    coef_lex: np.ndarray  # (classes, vocab)
    intercept: np.ndarray  # (classes,)
    temperature: float = 1.0


class StackedHeads:
    """All heads at once: logits = sum(P[token ids]) / ||sum(E[token ids])|| + sum(W_lex[ngram ids]) + b, then
    a softmax per head.

    P = E @ W_dense.T projects every token's static vector into logit space once, at load time; since the
    message embedding is the token vectors' sum scaled to unit length, this gives the same logits as embedding
    first.
    """

    def __init__(self, heads: list[HeadSpec], featurizer: Featurizer) -> None:
        self.heads = heads
        self.featurizer = featurizer
        self.w_dense = np.vstack([h.coef_dense for h in heads]).astype(np.float32)
        self.w_lex = np.vstack([h.coef_lex for h in heads]).T.astype(np.float32).copy()  # (vocab, total)
        self.bias = np.concatenate([h.intercept for h in heads]).astype(np.float32)
        # One table per token: its static vector, then its projection into every head's logits. A message
        # gathers its rows once; the first `dim` sums give the norm that scales the projected part.
        self.dim = featurizer.embeddings.shape[1]
        self.token_table = np.hstack([featurizer.embeddings, featurizer.embeddings @ self.w_dense.T]).astype(
            np.float32
        )
        self.slices: list[tuple[str, list[str], slice, float]] = []
        offset = 0
        for h in heads:
            self.slices.append((h.name, h.labels, slice(offset, offset + len(h.labels)), h.temperature))
            offset += len(h.labels)
        self.inv_temp = np.concatenate([np.full(len(h.labels), 1.0 / h.temperature) for h in heads]).astype(
            np.float64
        )

    def logits(self, text: str) -> np.ndarray:
        tok, lex = self.featurizer.ids(text)
        out = self.bias.copy()
        if tok:
            summed = self.token_table[tok].sum(axis=0)
            out += summed[self.dim :] / max(float(np.linalg.norm(summed[: self.dim])), MIN_NORM)
        if lex:
            out += self.w_lex[lex].sum(axis=0)
        return out

    def predict(self, text: str) -> dict[str, dict[str, float]]:
        return self.softmax(self.logits(text))

    def softmax(self, z: np.ndarray) -> dict[str, dict[str, float]]:
        """Per-head softmax at each head's temperature: one vectorised exp, then a dozen-odd Python floats."""
        scaled = z.astype(np.float64) * self.inv_temp
        values = np.exp(
            scaled - scaled.max()
        ).tolist()  # one shift for all heads; logits stay far from underflow
        result: dict[str, dict[str, float]] = {}
        for name, labels, sl, _ in self.slices:
            part = values[sl]
            total = sum(part)
            result[name] = {lab: e / total for lab, e in zip(labels, part, strict=True)}
        return result

    def logits_batch(self, texts: list[str]) -> np.ndarray:
        """Logits for many texts: one gather per table for the whole batch, then segment sums."""
        tok_ids: list[int] = []
        lex_ids: list[int] = []
        tok_seg = np.zeros(len(texts), dtype=np.int64)
        lex_seg = np.zeros(len(texts), dtype=np.int64)
        for i, t in enumerate(texts):
            tok, lex = self.featurizer.ids(t)
            tok_seg[i], lex_seg[i] = len(tok_ids), len(lex_ids)
            tok_ids += tok
            lex_ids += lex
        out = np.tile(self.bias, (len(texts), 1))
        summed = _segment_sums(self.token_table, tok_ids, tok_seg)
        norms = np.maximum(np.linalg.norm(summed[:, : self.dim], axis=1), MIN_NORM)
        out += summed[:, self.dim :] / norms[:, None]
        out += _segment_sums(self.w_lex, lex_ids, lex_seg)
        return out


def _segment_sums(table: np.ndarray, ids: list[int], starts: np.ndarray) -> np.ndarray:
    """Row sums of table[ids] per segment; empty segments give zeros."""
    out = np.zeros((len(starts), table.shape[1]), dtype=np.float32)
    if not ids:
        return out
    ends = np.append(starts[1:], len(ids))
    filled = ends > starts
    # reduceat sums from each start to the next one given; leaving out the empty segments (which hold no rows)
    # makes each next start its segment's end. One pass, in float32 like the per-text sum.
    out[filled] = np.add.reduceat(table[ids], starts[filled], axis=0)
    return out
