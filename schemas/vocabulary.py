"""The words events use for people and offers: tones, intents, sentiments, reply tones and the upsell menu.

Defined once, here below every room: the NLP fast path predicts these labels, the ML trainer learns them,
the demo traffic speaks them, and analytics counts them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

TONES = ("formal", "casual", "anxious", "warm", "direct")
INTENTS = (
    "booking_inquiry",
    "pricing_question",
    "menu_question",
    "scheduling_question",
    "complaint",
    "modification_request",
    "other",
)
Sentiment = Literal["positive", "neutral", "negative"]
SENTIMENTS: tuple[str, ...] = get_args(Sentiment)

# The tone the assistant answers each customer tone in.
REPLY_TONES = {
    "anxious": "reassuring",
    "formal": "professional",
    "casual": "friendly",
    "warm": "warm",
    "direct": "concise",
}
# A frustrated customer is answered with an apology first, whatever their tone.
FRUSTRATED_REPLY_TONE = "apologetic"
DEFAULT_REPLY_TONE = "friendly"

UPSELL_MENU_FILE = Path(__file__).with_name("upsells.json")


def reply_tone(tone: str, frustrated: bool) -> str:
    return FRUSTRATED_REPLY_TONE if frustrated else REPLY_TONES.get(tone, DEFAULT_REPLY_TONE)


@dataclass(frozen=True, slots=True)
class Upsell:
    """One add-on the assistant can offer: its id on events, its label, its price and how customers name it."""

    id: str
    label: str
    price_per_person: float
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class UpsellMenu:
    """The business's add-ons and their prices; `version` names this edition on every analysis."""

    version: str
    items: tuple[Upsell, ...]

    def prices(self) -> dict[str, float]:
        """{upsell id: price per guest in USD}."""
        return {item.id: item.price_per_person for item in self.items}


def load_upsell_menu(path: Path = UPSELL_MENU_FILE) -> UpsellMenu:
    """Reads an upsell menu file; the default is the shipped `schemas/upsells.json`."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    items = tuple(
        Upsell(d["id"], d["label"], float(d.get("price_per_person", 0.0)), tuple(d["synonyms"]))
        for d in raw["items"]
    )
    return UpsellMenu(str(raw.get("version", "0")), items)
