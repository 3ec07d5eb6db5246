"""The upsell model's features: one numeric vector per (conversation row, offered item). Pure: no I/O.

Training (services.ml.upsell) and serving (services.nlp) both build their vectors here, so the two can
never compute a feature differently.

A dataset row (one line of `upsell.jsonl`, written by `teppan ml dataset build`) is one conversation whose
outcome offered upsells:

    {"conversation_id": str, "customer_id": int|null, "occurred_at": ISO str, "booked": bool,
     "party_size": int|null, "event_date": "YYYY-MM-DD"|null, "month": int,
     "season": "winter"|"spring"|"summer"|"autumn", "turns": int, "customer_texts": [str, ...],
     "tones": [str, ...], "customer_previous_bookings": int, "customer_previous_accepted": int,
     "booking_value": float|null, "offered": [item, ...], "accepted": [item, ...]}

Each offered item the menu knows becomes one binary example, labelled by whether it is in `accepted`.
`booked`, `offered` and `accepted` are outcomes: no feature reads them, so a booking still in progress
(a row without them) is scored the same way.

The features, in `FEATURES` order (NaN where a value is missing or malformed; HistGradientBoosting learns
which side of each split missing values go):

- `item`: the example's item, a categorical code (its index in the vocabulary);
- `party_size`, `turns`, `customer_previous_bookings`, `customer_previous_accepted`: as given (numbers
  only; a bool, a string or a non-finite number is missing). `booking_value` is deliberately NOT a feature:
  the dataset fills it from the outcome's `total_value`, which already includes the accepted upsells and is
  0 when nothing was booked, so it would leak the answer (and a booking in progress has no total yet). The
  booking's size enters through `party_size`, which sets the base price;
- `days_to_event`: whole days from the date of `occurred_at` (as written, no time-zone shift) to
  `event_date`; negative when the event is in the past;
- `month`: as given when 1..12, else the event date's month;
- `season`: a categorical code; as given when one of `SEASONS`, else derived from `month` (meteorological,
  northern hemisphere: December to February is winter);
- `tone_share_<tone>` for each tone in `schemas.vocabulary.TONES`: the share of the `tones` entries equal
  to that tone (unknown tones count in the denominator only); missing when `tones` is empty;
- `item_mentions`: how many times the customer's texts name the example's item, by the menu's synonyms;
- `other_item_mentions`: how many times they name any other menu item (an appetite for extras at all).

Mentions are counted on lower-cased text with one regular expression over every synonym, longest first
and on word boundaries, so "lobster tails" counts once for lobster and never also as "lobster".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from schemas.vocabulary import TONES, UpsellMenu, load_upsell_menu

SEASONS = ("winter", "spring", "summer", "autumn")
_SEASON_OF_MONTH = {12: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2, 9: 3, 10: 3, 11: 3}

FEATURES: tuple[str, ...] = (
    "item",
    "party_size",
    "days_to_event",
    "month",
    "season",
    "turns",
    "customer_previous_bookings",
    "customer_previous_accepted",
    *(f"tone_share_{tone}" for tone in TONES),
    "item_mentions",
    "other_item_mentions",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("item", "season")

FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class UpsellVocabulary:
    """The items the model knows, in a fixed order (their categorical codes), and how customers name them.

    Saved with a trained model, so a later edit of the menu cannot silently renumber its items.
    """

    items: tuple[str, ...]
    synonyms: Mapping[str, tuple[str, ...]]
    menu_version: str = "0"
    _codes: dict[str, int] = field(init=False, repr=False, compare=False)
    _by_synonym: dict[str, str] = field(init=False, repr=False, compare=False)
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = sorted(
            ((s.lower(), item) for item in self.items for s in self.synonyms.get(item, ()) if s.strip()),
            key=lambda pair: (-len(pair[0]), pair[0]),
        )
        by_synonym: dict[str, str] = {}
        for synonym, item in pairs:
            by_synonym.setdefault(synonym, item)  # a synonym shared by two items belongs to the first
        alternation = "|".join(re.escape(s) for s in by_synonym)
        # Frozen, so the derived lookups are set once here, the way dataclasses document it.
        object.__setattr__(self, "_codes", {item: index for index, item in enumerate(self.items)})
        object.__setattr__(self, "_by_synonym", by_synonym)
        object.__setattr__(self, "_pattern", re.compile(rf"\b(?:{alternation})\b") if alternation else None)

    @classmethod
    def from_menu(cls, menu: UpsellMenu | None = None) -> UpsellVocabulary:
        """The shipped menu (`schemas/upsells.json`) unless another is given."""
        menu = menu if menu is not None else load_upsell_menu()
        return cls(
            items=tuple(item.id for item in menu.items),
            synonyms={item.id: item.synonyms for item in menu.items},
            menu_version=menu.version,
        )

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> UpsellVocabulary:
        return cls(
            items=tuple(str(i) for i in raw["items"]),
            synonyms={str(k): tuple(str(s) for s in v) for k, v in raw["synonyms"].items()},
            menu_version=str(raw.get("menu_version", "0")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "menu_version": self.menu_version,
            "items": list(self.items),
            "synonyms": {item: list(self.synonyms.get(item, ())) for item in self.items},
        }

    def code(self, item: str) -> int | None:
        return self._codes.get(item)

    def mention_counts(self, texts: Iterable[object]) -> Counter[str]:
        """{item: times named} over the texts; anything that is not a string is skipped."""
        counts: Counter[str] = Counter()
        if self._pattern is None:
            return counts
        for text in texts:
            if isinstance(text, str):
                counts.update(self._by_synonym[m.group(0)] for m in self._pattern.finditer(text.lower()))
        return counts


@dataclass(frozen=True)
class RowContext:
    """A row's item-independent features, computed once and shared by its examples."""

    numbers: tuple[float, ...]  # the values of FEATURES[1:-2]: party_size through the tone shares
    mentions: Counter[str]


@dataclass
class Examples:
    """The binary examples of many rows: `features[i]` is about `items[i]` offered in row `row_index[i]`."""

    features: FloatMatrix
    labels: npt.NDArray[np.int8]
    row_index: npt.NDArray[np.int64]
    items: list[str]
    unknown_items: Counter[str]


def number(value: object) -> float:
    """A finite int or float as a float; anything else (None, a bool, a string, inf, a huge int) is NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    try:
        result = float(value)
    except OverflowError:
        return math.nan
    return result if math.isfinite(result) else math.nan


def parse_datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _parse_date(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _strings(value: object) -> list[str]:
    """The strings of a list; a missing or malformed list is empty."""
    if not isinstance(value, list | tuple):
        return []
    return [v for v in value if isinstance(v, str)]


def row_context(row: Mapping[str, Any], vocabulary: UpsellVocabulary) -> RowContext:
    occurred = parse_datetime(row.get("occurred_at"))
    event_date = _parse_date(row.get("event_date"))
    days_to_event = (event_date - occurred.date()).days if occurred and event_date else math.nan

    month = number(row.get("month"))
    if not (1 <= month <= 12 and month == int(month)):
        month = float(event_date.month) if event_date else math.nan
    season_name = row.get("season")
    if isinstance(season_name, str) and season_name in SEASONS:
        season = float(SEASONS.index(season_name))
    else:
        season = float(_SEASON_OF_MONTH[int(month)]) if not math.isnan(month) else math.nan

    tones = _strings(row.get("tones"))
    tone_counts = Counter(tones)
    tone_shares = tuple(tone_counts[t] / len(tones) if tones else math.nan for t in TONES)

    numbers = (
        number(row.get("party_size")),
        float(days_to_event),
        month,
        season,
        number(row.get("turns")),
        number(row.get("customer_previous_bookings")),
        number(row.get("customer_previous_accepted")),
        *tone_shares,
    )
    return RowContext(numbers, vocabulary.mention_counts(_strings(row.get("customer_texts"))))


def example_features(context: RowContext, item: str, vocabulary: UpsellVocabulary) -> list[float]:
    """The FEATURES vector of one item for one row; an item outside the vocabulary has a missing code."""
    code = vocabulary.code(item)
    item_mentions = context.mentions[item]
    other_mentions = sum(context.mentions.values()) - item_mentions
    return [
        float(code) if code is not None else math.nan,
        *context.numbers,
        float(item_mentions),
        float(other_mentions),
    ]


def known_items(value: object, vocabulary: UpsellVocabulary, unknown: Counter[str]) -> list[str]:
    """The vocabulary's items in a row's `offered` or `accepted` list, in order, without repeats; the
    others are counted in `unknown` (by name; a non-string entry as "<not a string>") and dropped."""
    if not isinstance(value, list | tuple):
        return []
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            unknown["<not a string>"] += 1
        elif vocabulary.code(item) is None:
            unknown[item] += 1
        elif item not in out:
            out.append(item)
    return out


def build_examples(rows: Sequence[Mapping[str, Any]], vocabulary: UpsellVocabulary) -> Examples:
    """One example per (row, known offered item), labelled 1 when that item is among the row's accepted."""
    vectors: list[list[float]] = []
    labels: list[int] = []
    row_index: list[int] = []
    items: list[str] = []
    unknown: Counter[str] = Counter()
    for index, row in enumerate(rows):
        offered = known_items(row.get("offered"), vocabulary, unknown)
        accepted = set(known_items(row.get("accepted"), vocabulary, unknown))
        if not offered:
            continue
        context = row_context(row, vocabulary)
        for item in offered:
            vectors.append(example_features(context, item, vocabulary))
            labels.append(int(item in accepted))
            row_index.append(index)
            items.append(item)
    return Examples(
        features=np.asarray(vectors, dtype=np.float64).reshape(len(vectors), len(FEATURES)),
        labels=np.asarray(labels, dtype=np.int8),
        row_index=np.asarray(row_index, dtype=np.int64),
        items=items,
        unknown_items=unknown,
    )


def candidate_features(
    row: Mapping[str, Any], candidates: Sequence[str], vocabulary: UpsellVocabulary
) -> FloatMatrix:
    """The FEATURES matrix of a row in progress for each candidate item (no outcome is read)."""
    context = row_context(row, vocabulary)
    vectors = [example_features(context, item, vocabulary) for item in candidates]
    return np.asarray(vectors, dtype=np.float64).reshape(len(vectors), len(FEATURES))
