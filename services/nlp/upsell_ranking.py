"""Upsell suggestions from the trained upsell model: what the worker remembers of a conversation, and a ranker.

Pure: no Kafka, and no I/O but reading a saved model folder. Two parts:

`ConversationMemory` keeps, per conversation, what the upsell model reads (the customer's texts, their
tones, the turn count, the latest party size and event date, when it started) and turns it into a row in
the dataset's format (services.common.upsell.features), so the model scores a booking in progress the way
it was trained on finished ones.

Why in memory, and what that costs: the nlp worker's input topic is keyed by conversation_id, so one
consumer sees every turn of a conversation, in order; no shared store is needed to see the conversation so
far. The memory is bounded (least recently seen conversations are dropped first) and starts empty: after a
restart, or when a rebalance moves a partition to another worker, a conversation is seen from its current
turn on (its earlier texts and entities are gone; the turn count is still right when the caller passes the
turn's `turn_index`). The suggestions for such a conversation rest on less, never on another
conversation's data.

`UpsellRanker` wraps a loaded `UpsellModel`: for each row it scores every item the model knows (one
`predict_proba` call for a whole batch of rows), leaves out the items the customer already named, offers
nothing where the rule-based catalogue offers nothing (a complaint, an off-topic message, an anxious price
question), and keeps the best `limit` items whose acceptance probability reaches `min_probability`.

Neither part raises on odd input: any text (empty, 16,000 characters, lone surrogates), any party size or
date (None, a bool, a string, an impossible date) is read as "unknown" where it is not a usable value.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from services.common.upsell.features import SEASONS, candidate_features
from services.common.upsell.model import UpsellModel
from services.nlp.upsells import no_upsell_moment

DEFAULT_MAX_CONVERSATIONS = 10_000
DEFAULT_MAX_TEXTS = 20
# A chat message is a few hundred characters; a menu item named after the first thousand is not worth
# keeping 16 kB per text for 10,000 conversations (the worst case is max_conversations x max_texts x this).
DEFAULT_MAX_TEXT_CHARS = 1_000
# The same bound the dataset builder puts on a party size (services.ml.datasets.MAX_PARTY_SIZE).
MAX_PARTY_SIZE = 10_000
# Below one acceptance in ten the suggestion costs the assistant a line (and the customer's patience) for
# little: the model is fit with log loss, so its scores are probabilities, and a floor in probability says
# "offer nothing" when nothing fits, where a rank alone would always offer `limit` items. It sits under
# the menu's usual acceptance rates, so on an ordinary booking the model's top picks still pass.
DEFAULT_MIN_PROBABILITY = 0.1
# --- What the worker remembers of a conversation ------------------------------------------------------


@dataclass
class ConversationState:
    """What has been seen of one conversation (the latest `max_texts` customer texts and their tones)."""

    customer_texts: list[str] = field(default_factory=list)
    tones: list[str | None] = field(default_factory=list)
    turns: int = 0
    party_size: int | None = None
    event_date: str | None = None
    first_occurred_at: datetime | None = None
    last_occurred_at: datetime | None = None
    last_turn_index: int | None = None


def _party_size(value: object) -> int | None:
    """A party size as the dataset keeps it: a whole number in 1..MAX_PARTY_SIZE (or its digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isdecimal() and text.isascii() and len(text) <= 6 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 < value <= MAX_PARTY_SIZE:
        return value
    return None


def _event_date(value: object) -> date | None:
    """An event date: a date, or an ISO date or date-time string; anything else is None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None


def _moment(value: object) -> datetime | None:
    """A datetime, or an ISO date-time string; anything else is None."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def _utc_day(moment: datetime) -> date:
    """The day of a moment in UTC (naive moments are read as UTC), as the dataset dates an outcome."""
    if moment.tzinfo is None:
        return moment.date()
    try:
        return moment.astimezone(UTC).date()
    except (OverflowError, ValueError):
        return moment.date()  # within a day of date.min or date.max: its own day will do


def _turn_index(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _clean_text(value: object, max_chars: int) -> str | None:
    if not isinstance(value, str):
        return None
    # Lone surrogates (a JSON "\ud800" decodes to one) are kept out of memory: they cannot be encoded.
    return value[:max_chars].encode("utf-8", "replace").decode("utf-8")


class ConversationMemory:
    """A bounded LRU of what the worker has seen per conversation; `observe` returns the upsell row.

    Not thread-safe: one worker's event loop owns it (the worker handles one batch at a time).
    """

    def __init__(
        self,
        max_conversations: int = DEFAULT_MAX_CONVERSATIONS,
        *,
        max_texts: int = DEFAULT_MAX_TEXTS,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    ) -> None:
        if max_conversations < 1 or max_texts < 1 or max_text_chars < 1:
            raise ValueError("max_conversations, max_texts and max_text_chars must be at least 1")
        self.max_conversations = max_conversations
        self.max_texts = max_texts
        self.max_text_chars = max_text_chars
        self._states: OrderedDict[Hashable, ConversationState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, conversation_id: object) -> bool:
        return _key(conversation_id) in self._states

    def state(self, conversation_id: object) -> ConversationState | None:
        """What is remembered of a conversation (without marking it recently seen), or None."""
        return self._states.get(_key(conversation_id))

    def forget(self, conversation_id: object) -> None:
        """Drops a conversation (when it ended with an outcome, say)."""
        self._states.pop(_key(conversation_id), None)

    def observe(
        self,
        conversation_id: object,
        text: object,
        tone: object = None,
        party_size: object = None,
        event_date: object = None,
        occurred_at: object = None,
        *,
        turn_index: object = None,
    ) -> dict[str, Any]:
        """Records one customer turn and returns the conversation's upsell row as it stands after it.

        `party_size` and `event_date` are this turn's entities (the fast path's `entities["party_size"].value`
        and `entities["date"].value`), None when the turn has none: the latest mention stands, as in the
        dataset, so a turn without one keeps the earlier value. `turn_index` (the Turn's, counting every
        role's messages from 0) makes `turns` the conversation's message count even for a conversation first
        seen mid-way, and makes a redelivered turn (an index not above the last one seen) change nothing.
        Without it `turns` counts the customer turns observed here.
        """
        key = _key(conversation_id)
        state = self._states.get(key)
        if state is None:
            state = ConversationState()
            self._states[key] = state
            while len(self._states) > self.max_conversations:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(key)

        index = _turn_index(turn_index)
        repeat = index is not None and state.last_turn_index is not None and index <= state.last_turn_index
        if not repeat:
            self._record(state, text, tone, party_size, event_date, occurred_at, index)
        return self._row(key, state)

    def _record(
        self,
        state: ConversationState,
        text: object,
        tone: object,
        party_size: object,
        event_date: object,
        occurred_at: object,
        index: int | None,
    ) -> None:
        cleaned = _clean_text(text, self.max_text_chars)
        if cleaned is not None:
            state.customer_texts.append(cleaned)
            state.tones.append(tone if isinstance(tone, str) and len(tone) <= 64 else None)
            del state.customer_texts[: -self.max_texts]
            del state.tones[: -self.max_texts]
        state.turns = max(state.turns + 1, index + 1 if index is not None else 0)
        if index is not None:
            state.last_turn_index = index
        size = _party_size(party_size)
        if size is not None:
            state.party_size = size
        day = _event_date(event_date)
        if day is not None:
            state.event_date = day.isoformat()
        moment = _moment(occurred_at)
        if moment is not None:
            if state.first_occurred_at is None:
                state.first_occurred_at = moment
            state.last_occurred_at = moment

    @staticmethod
    def _row(key: Hashable, state: ConversationState) -> dict[str, Any]:
        """The dataset row of a booking in progress (services.common.upsell.features' format, no outcome).

        `occurred_at` is the latest turn's time: a dataset row's is the outcome's, the moment the upsells
        were decided, and `days_to_event` counts from it. `month` and `season` are the event date's, else
        that day's (UTC), as the dataset builder dates them. What the worker cannot know (the customer's
        earlier bookings) is None, which the model reads as missing.
        """
        event_day = _event_date(state.event_date)
        moment = state.last_occurred_at
        season_day = event_day or (_utc_day(moment) if moment is not None else None)
        return {
            "conversation_id": str(key),
            "customer_id": None,
            "occurred_at": moment.isoformat() if moment is not None else None,
            "party_size": state.party_size,
            "event_date": state.event_date,
            "month": season_day.month if season_day else None,
            "season": SEASONS[(season_day.month % 12) // 3] if season_day else None,
            "turns": state.turns,
            "customer_texts": list(state.customer_texts),
            "tones": list(state.tones),
            "customer_previous_bookings": None,
            "customer_previous_accepted": None,
            "booking_value": None,
        }


def _key(conversation_id: object) -> Hashable:
    # A UUID and its string name the same conversation.
    return str(conversation_id)


# --- Ranking ---------------------------------------------------------------------------------------


class UpsellRanker:
    """Suggests upsells with a trained upsell model; `version` names the model.

    `items` limits the candidates to those (today's menu, say) among the items the model knows; by default
    every item the model was trained on is a candidate.
    """

    def __init__(
        self,
        model: UpsellModel,
        *,
        min_probability: float = DEFAULT_MIN_PROBABILITY,
        items: Iterable[str] | None = None,
    ) -> None:
        if not 0.0 <= min_probability <= 1.0:
            raise ValueError(f"min_probability must be within 0..1, not {min_probability}")
        self.model = model
        self.min_probability = min_probability
        known = model.vocabulary.items
        wanted = None if items is None else set(items)
        self._items: tuple[str, ...] = tuple(item for item in known if wanted is None or item in wanted)
        self._order = {item: index for index, item in enumerate(self._items)}

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        min_probability: float = DEFAULT_MIN_PROBABILITY,
        items: Iterable[str] | None = None,
    ) -> UpsellRanker:
        """The ranker of the model saved in `directory` (FileNotFoundError when it holds none)."""
        return cls(UpsellModel.load(directory), min_probability=min_probability, items=items)

    @property
    def version(self) -> str:
        """The model's version (`upsell-hgb-1+<digest of its training rows>`)."""
        return self.model.version

    @property
    def items(self) -> tuple[str, ...]:
        """The candidate items, in the model's vocabulary order."""
        return self._items

    def score_batch(self, rows: Sequence[object]) -> list[dict[str, float]]:
        """{item: probability of acceptance} for every candidate item, per row, from one model call."""
        if not rows or not self._items:
            return [{} for _ in rows]
        matrices = [candidate_features(_mapping(row), self._items, self.model.vocabulary) for row in rows]
        probabilities = self.model.predict_proba(np.vstack(matrices))
        width = len(self._items)
        return [
            dict(zip(self._items, (float(p) for p in probabilities[start : start + width]), strict=True))
            for start in range(0, len(rows) * width, width)
        ]

    def scores(self, row: object) -> dict[str, float]:
        """{item: probability of acceptance} for every candidate item of one row."""
        return self.score_batch([row])[0]

    def suggest(
        self,
        row: object,
        *,
        mentioned: Iterable[object] | None = (),
        intent: object,
        tone: object,
        limit: int = 2,
    ) -> list[str]:
        """The best `limit` items for a booking in progress, best first: none the customer already named,
        none below `min_probability`, and nothing at all where the rules offer nothing."""
        return self.suggest_batch([row], mentioned=[mentioned], intents=[intent], tones=[tone], limit=limit)[
            0
        ]

    def suggest_batch(
        self,
        rows: Sequence[object],
        *,
        mentioned: Sequence[Iterable[object] | None],
        intents: Sequence[object],
        tones: Sequence[object],
        limit: int = 2,
    ) -> list[list[str]]:
        """`suggest` for many rows (`mentioned[i]`, `intents[i]`, `tones[i]` are row i's) with one model call
        for all of them; a ValueError when the sequences differ in length."""
        if not len(rows) == len(mentioned) == len(intents) == len(tones):
            raise ValueError(
                f"one mention list, intent and tone per row: {len(rows)} rows, {len(mentioned)} mention lists,"
                f" {len(intents)} intents, {len(tones)} tones"
            )
        count = limit if isinstance(limit, int) and not isinstance(limit, bool) else 0
        out: list[list[str]] = [[] for _ in rows]
        wanted = [
            index
            for index, (intent, tone) in enumerate(zip(intents, tones, strict=True))
            if count > 0 and not no_upsell_moment(intent, tone)
        ]
        if not wanted:
            return out
        scored = self.score_batch([rows[index] for index in wanted])
        for index, scores in zip(wanted, scored, strict=True):
            named = _names(mentioned[index])
            ranked = sorted(
                (
                    (p, item)
                    for item, p in scores.items()
                    if item not in named and math.isfinite(p) and p >= self.min_probability
                ),
                key=lambda pair: (-pair[0], self._order[pair[1]]),
            )
            out[index] = [item for _, item in ranked[:count]]
        return out


def _mapping(row: object) -> Mapping[str, Any]:
    return row if isinstance(row, Mapping) else {}


def _names(mentioned: Iterable[object] | None) -> set[str]:
    """The item ids among `mentioned` (one id given alone counts too; anything else is ignored)."""
    if isinstance(mentioned, str):
        return {mentioned}
    if mentioned is None:
        return set()
    return {item for item in mentioned if isinstance(item, str)}


__all__ = [
    "DEFAULT_MAX_CONVERSATIONS",
    "DEFAULT_MAX_TEXTS",
    "DEFAULT_MAX_TEXT_CHARS",
    "DEFAULT_MIN_PROBABILITY",
    "ConversationMemory",
    "ConversationState",
    "UpsellRanker",
    "no_upsell_moment",
]
