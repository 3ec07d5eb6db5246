"""Text features for the learned heads: a model2vec static embedding plus a lexical n-gram vocabulary.

Everything is computed from per-word caches (word -> token ids, n-gram -> column), so one message costs a few
dictionary lookups and one small matrix gather; no tokenizer call happens for a word seen before.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from services.common.corrections import CORRECTION_RE

WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_EMOJI_RE = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2764]")
# A lone surrogate is not a character, yet the JSON string "\ud800" decodes to one; the tokenizer raises on it.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_CACHE_LIMIT = 200_000
MIN_NORM = 1e-6
CHARGRAMS = False


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
# linear heads generalise beyond the exact n-grams of the templates. Each is searched in single words and in
# two-word grams, once per distinct gram (the results are cached), never in the whole message.
_CONCEPTS = {
    "price": r"price|pricing|cost|how much|quote|estimate|charge|fee|deposit|\brates?\b|budget|cheap|expensive|afford"
    r"|per person|per head|a head|discount|\$|dollar|bucks|\bpay\b|paying|\btip\b|gratuity|minimum|ballpark|run me"
    r"|high.?end|upscale|pricey|pricy|economical|inexpensive|moderately priced",
    "complaint": r"\blate\b|\bcold\b|rude|refund|never (?:came|showed|arrived|got|returned|answered)|nobody|no one"
    r"|didn'?t (?:show|get|come|arrive)|\bsick\b|unacceptable|disappoint|terrible|awful|worst|overcharg|twice"
    r"|\bmess\b|undercook|\braw\b|forgot|drunk|complain|not happy|unhappy|horrible|no response|still waiting"
    r"|waiting on|missing|wrong|smoked|burn|ruined|\bpoor\b|\bbad\b|too small|cancell?ed on|double booked",
    "modify": r"chang|\bmove\b|resched|cancel|instead|switch|swap|\badd\b|remove|\bdrop\b|update|\bpush|\bbump"
    r"|actually|make (?:it|that)|scratch|\bmeant\b|now we|fewer|upgrade|from <num>|more (?:guests|people)",
    "schedule": r"arriv|show up|get here|how long|how early|how late|availab|\bopen\b|\bfree\b|advance|notice"
    r"|set ?up|clean ?up|time slots?|start time|earliest|latest|what time|\bwhen\b|weekends|duration|\bstay"
    r"|too late|too early",
    "menu": r"menu|vegetarian|vegan|gluten|allerg|protein|sauce|option|includ|halal|kosher|dessert|appetizer|salad"
    r"|soup|dairy|\bnuts?\b|\bserve|\bdish|ingredient|spicy|cook without|comes? with|kinds? of",
    "booking": r"\bbook|reserv|lock in|sign us|\bhire|\bhiring a|need (?:a|an) chef|put us|get a chef|come (?:to|out)"
    r"|plan(?:ning)? (?:a|an|our)",
    "smalltalk": r"\bbot\b|human|website|instagram|gift card|weather|wrong number|right number",
}
_CONCEPT_RE = re.compile("|".join(f"(?P<{k}>{v})" for k, v in _CONCEPTS.items()))
_SMALLTALK = frozenset(
    "hi hello hey yo thanks thank you ok okay cool bye lol haha k yes no yep nope sure thx ty great nice".split()
)


def gram_features(gram: str) -> list[str]:
    """The features one word or two-word gram contributes: itself, its concepts and (words only) its
    character 3- and 4-grams, which keep typos ("mennu", "chhef") close to the word they misspell."""
    feats = [gram]
    feats += {f"__kw_{m.lastgroup}" for m in _CONCEPT_RE.finditer(gram)}
    if CHARGRAMS and " " not in gram and gram.isalpha() and len(gram) > 2:
        padded = f"<{gram}>"
        for n in (3, 4):
            feats += [f"#{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    return feats


def _norm_word(w: str) -> str:
    return "<num>" if w.isdigit() else w


def message_grams(ws: list[str]) -> list[str]:
    """Words (numbers as <num>) and two-word grams of one message."""
    ns = [_norm_word(w) for w in ws]
    return ns + [f"{a} {b}" for a, b in zip(ns, ns[1:], strict=False)]


_NEGATING_START = frozenset(("no", "nope", "nah", "wrong", "actually", "wait", "sorry"))


def message_features(text: str, ws: list[str]) -> list[str]:
    """Whole-message features: shape, small talk only, and rule evidence: a correction ("actually make it
    25", "from 20 to 26") is evidence of a modification; a reply that opens by negating ("No, ...") too."""
    feats = shape_features(text)
    if ws and len(ws) <= 4 and all(w in _SMALLTALK or not w.isalnum() for w in ws):
        feats.append("__smalltalk")
    if ws and ws[0] in _NEGATING_START:
        feats.append("__neg_start")
    if CORRECTION_RE.search(text.lower()):
        feats.append("__correction")
    return feats


# Training meets the same grams over and over (825,000 calls for 23,000 messages), and each call runs the
# concept pattern; remembering each gram's features took building the vocabulary from 8 s to under 1 s.
_GRAM_FEATURES: dict[str, tuple[str, ...]] = {}


def _remembered_gram_features(gram: str) -> tuple[str, ...]:
    got = _GRAM_FEATURES.get(gram)
    if got is None:
        if len(_GRAM_FEATURES) > _CACHE_LIMIT:
            _GRAM_FEATURES.clear()  # bounded memory, whatever the corpus
        got = _GRAM_FEATURES[gram] = tuple(gram_features(gram))
    return got


def ngrams(text: str, ws: list[str] | None = None) -> list[str]:
    """Every feature name of one message (training and vocabulary building; serving uses the gram cache)."""
    ws = words(text) if ws is None else ws
    feats: list[str] = []
    for g in message_grams(ws):
        feats += _remembered_gram_features(g)
    return feats + message_features(text, ws)


def build_vocab(texts: Iterable[str], min_count: int = 2, max_size: int = 120_000) -> dict[str, int]:
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
        self._gram_ids: dict[str, list[int]] = {}

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
                if _SURROGATE_RE.search(w):
                    got = []  # no token stands for it, and the tokenizer raises on it
                else:
                    enc = self.tokenizer.encode(w, add_special_tokens=False)  # type: ignore[attr-defined]
                    got = [i for i in enc.ids if i != self.unk_id]
                cache[w] = got
            ids.extend(got)
        return ids

    def embed(self, text: str) -> np.ndarray:
        """Sum of the token vectors scaled to unit length (the direction of their mean). Heads still pre-project
        the table: logits = sum(P[ids]) / ||sum(E[ids])||, so serving needs only the norm of the sum.
        Unit length keeps one-word replies and long run-ons on the same scale for the linear heads."""
        ids = self.token_ids(text)
        if not ids:
            return np.zeros(self.embeddings.shape[1], dtype=np.float32)
        v = self.embeddings[ids].sum(axis=0)
        return v / max(float(np.linalg.norm(v)), MIN_NORM)

    def _gram_lex(self, gram: str) -> list[int]:
        cache = self._gram_ids
        got = cache.get(gram)
        if got is None:
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            vocab = self.vocab
            got = [vocab[f] for f in gram_features(gram) if f in vocab]
            cache[gram] = got
        return got

    def lexical_ids(self, text: str, ws: list[str] | None = None) -> list[int]:
        """Vocabulary columns of the message's features, each once (the features are binary)."""
        ws = words(text) if ws is None else ws
        ids: list[int] = []
        cache = self._gram_ids
        for g in message_grams(ws):
            got = cache.get(g)
            ids += got if got is not None else self._gram_lex(g)
        vocab = self.vocab
        ids += [vocab[f] for f in message_features(text, ws) if f in vocab]
        return list(set(ids))

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
