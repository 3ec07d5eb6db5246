"""Upsells in a message: which menu items it mentions, and rule-based suggestions for the assistant.

The menu itself (ids, prices, synonyms) is event vocabulary, read from schemas.vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from schemas.vocabulary import UPSELL_MENU_FILE, Upsell, load_upsell_menu

# Nothing is offered to an unhappy or off-topic customer, nor to an anxious one asking about prices; the
# rules and the upsell model's ranker (services.nlp.upsell_ranking) share this guard.
NO_UPSELL_INTENTS = frozenset({"complaint", "other"})


def no_upsell_moment(intent: object, tone: object) -> bool:
    """Whether the message is no moment to offer anything."""
    return intent in NO_UPSELL_INTENTS or (tone == "anxious" and intent == "pricing_question")


_CELEBRATION = re.compile(r"birthday|anniversary|wedding|graduation|celebrat|engagement|retirement|special")


class UpsellCatalog:
    def __init__(self, items: Sequence[Upsell], version: str) -> None:
        self.items = {i.id: i for i in items}
        self.version = version
        # One alternation, longest synonyms first, so "lobster tail" wins over "lobster".
        pairs = sorted(((s, i.id) for i in items for s in i.synonyms), key=lambda p: -len(p[0]))
        self._by_synonym = {s.lower(): item_id for s, item_id in pairs}
        alternation = "|".join(re.escape(s) for s, _ in pairs)
        self._re = re.compile(rf"\b(?:{alternation.lower()})\b")  # matched on lower-cased text

    @classmethod
    def load(cls, path: Path = UPSELL_MENU_FILE) -> UpsellCatalog:
        menu = load_upsell_menu(path)
        return cls(menu.items, menu.version)

    def mentioned(self, text: str, lower: str | None = None) -> list[str]:
        seen: list[str] = []
        for m in self._re.finditer(text.lower() if lower is None else lower):
            item_id = self._by_synonym[m.group(0)]
            if item_id not in seen:
                seen.append(item_id)
        return seen

    def suggest(
        self,
        *,
        intent: str,
        tone: str,
        party_size: int | None,
        mentioned: list[str],
        text: str,
        limit: int = 2,
    ) -> list[str]:
        """Rule-based picks until the upsell model of the ML trainer replaces them.

        Nothing is offered to an unhappy customer; celebrations get the premium items; big parties get the
        sides that scale, and a second chef past 25 guests so the food keeps pace.
        """
        if no_upsell_moment(intent, tone):
            return []
        picks: list[str] = []
        if party_size is not None and party_size > 25:
            picks.append("extra_chef")
        if _CELEBRATION.search(text.lower()):
            picks += ["lobster", "filet_mignon"]
        if intent in ("booking_inquiry", "menu_question", "modification_request", "scheduling_question"):
            picks += ["gyoza", "third_protein", "noodles"]
        if intent == "pricing_question":
            picks += ["gyoza", "fried_rice"]
        out: list[str] = []
        for p in picks:
            if p in self.items and p not in mentioned and p not in out:
                out.append(p)
        return out[:limit]
