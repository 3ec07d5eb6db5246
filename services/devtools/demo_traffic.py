"""Seeded generator of realistic hibachi-catering booking conversations, as wire-format event dicts.

Pure: no Kafka, no clock, no I/O. `teppan demo` and the benchmark turn its output into produced messages.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.topics import CHAT_MESSAGES, CHAT_OUTCOMES, CHAT_SERVICE_CALLS, CHAT_SURVEYS, LABELS
from schemas.vocabulary import FRUSTRATED_REPLY_TONE, load_upsell_menu, reply_tone

__all__ = [
    "ADULT_PRICE",
    "CHILD_PRICE",
    "MINIMUM_ORDER",
    "UPSELL_PRICES",
    "DemoConversation",
    "generate_conversations",
    "iter_events",
]

SOURCE = "demo"
SCHEMA_VERSION = 1

# Prices follow the seed's example: 30 guests with gyoza come to $1,950 (30 x $55 + 30 x $10).
ADULT_PRICE = 55.0
CHILD_PRICE = 30.0
MINIMUM_ORDER = 550.0
# Per guest, from the one upsell menu every room reads.
UPSELL_PRICES: dict[str, float] = load_upsell_menu().prices()
# How the assistant names the upsells it offers, in a sentence.
UPSELL_NAMES = {
    "gyoza": "gyoza",
    "third_protein": "a third protein",
    "lobster": "lobster tail",
    "filet_mignon": "filet mignon upgrade",
    "noodles": "yakisoba noodles",
    "fried_rice": "extra fried rice",
}

# (provider, model, latency range ms): the three LLM back ends the assistant switches between.
LLM_BACKENDS: tuple[tuple[str, str, tuple[float, float]], ...] = (
    ("openai", "gpt-4o-mini", (550.0, 1900.0)),
    ("groq", "llama-3.1-8b-instant", (120.0, 520.0)),
    ("ollama", "llama3.2", (700.0, 3200.0)),
)
STT_BACKENDS = (("openai", "whisper-1"), ("deepgram", "nova-2"))
TTS_BACKENDS = (("openai", "tts-1"), ("elevenlabs", "eleven_turbo_v2"))
PROMPT_VERSIONS = ("v1.0", "v2.0")
# v2.0 carries the longer system prompt with menu and pricing facts, hence more input tokens.
PROMPT_TOKENS = {"v1.0": 380, "v2.0": 610}

# How often each customer tone comes up; the assistant answers in the reply tone the vocabulary maps it to.
CUSTOMER_TONE_WEIGHTS = {"casual": 34, "formal": 18, "anxious": 16, "warm": 18, "direct": 14}

FIRST_NAMES = tuple(
    "Maria Jake Priya Tom Dana Luis Aisha Kevin Mei Olivia Marcus Sofia Brian Keisha Hiroshi Emily "
    "Carlos Fatima Ryan Grace Andre Nina Derek Lauren Omar Jess Tyler Chloe Raj Hannah".split()
)
LAST_NAMES = tuple(
    "Lopez Miller Patel Nguyen Kim Johnson O'Brien Garcia Tanaka Williams Brown Rossi Chen Davis "
    "Okafor Schmidt Martinez Wilson Khan Thompson".split()
)
AGENT_NAMES = ("Sam", "Alex", "Jordan", "Taylor", "Kenji")
EMOJI = ("🎉", "🔥", "🙏", "😊", "🍤", "🥳", "👍", "😅", "🤞")
ANGRY_EMOJI = ("😡", "🙄", "😤", "😠")

NUMBER_WORDS = tuple(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split()
)
TENS_WORDS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

# (surface text, normalised value): relative dates stay relative, the NLP stage resolves them.
DATE_PHRASES: tuple[tuple[str, str], ...] = (
    ("next Saturday", "next saturday"),
    ("this Friday", "this friday"),
    ("Jan 15", "01-15"),
    ("January 15th", "01-15"),
    ("12/31", "12-31"),
    ("the 4th of July", "07-04"),
    ("Memorial Day weekend", "memorial day weekend"),
    ("in two weeks", "+14d"),
    ("March 3rd", "03-03"),
    ("Sat the 14th", "saturday 14"),
    ("Sunday the 22nd", "sunday 22"),
    ("6/14", "06-14"),
    ("Labor Day", "labor day"),
    ("Oct 5", "10-05"),
    ("New Year's Eve", "12-31"),
    ("the second weekend of August", "august weekend 2"),
    ("tmrw", "+1d"),
    ("a week from Saturday", "saturday +7d"),
)
# (surface text, HH:MM)
TIME_PHRASES: tuple[tuple[str, str], ...] = (
    ("6pm", "18:00"),
    ("6:30 pm", "18:30"),
    ("around 5:30", "17:30"),
    ("7 pm", "19:00"),
    ("like 6ish", "18:00"),
    ("18:00", "18:00"),
    ("noon", "12:00"),
    ("5 in the evening", "17:00"),
    ("4:45pm", "16:45"),
    ("8 o'clock", "20:00"),
    ("lunchtime, 1pm", "13:00"),
)
LLM_ERRORS = (
    "timeout after 10000 ms",
    "429 rate limit exceeded",
    "503 service unavailable",
    "connection reset by peer",
)
STT_ERRORS = ("audio too short", "timeout after 5000 ms", "unsupported sample rate")
TTS_ERRORS = ("timeout after 5000 ms", "500 internal error")


@dataclass(frozen=True)
class DemoConversation:
    """One generated conversation: its events in emission order, plus the ground truth behind them."""

    conversation_id: str
    customer_id: int | None
    scenario: tuple[str, ...]
    events: list[tuple[str, dict[str, Any]]]
    # event_id of each customer message -> what the customer meant (tone, intent, entities); handy for
    # checking the NLP stage and for seeding labels, and never part of the wire events.
    truth: dict[str, dict[str, Any]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# Internal script form: timing-free beats, so both APIs can lay the same conversation on their own clocks.


@dataclass
class _Beat:
    gap_s: float  # think, typing or generation time before this chat message
    events: list[tuple[str, dict[str, Any]]]  # exactly one chat message, with its service calls around it


@dataclass
class _Script:
    conversation_id: str
    customer_id: int | None
    scenario: tuple[str, ...]
    beats: list[_Beat]
    tail: list[tuple[float, str, dict[str, Any]]]  # (delay after the previous item, topic, event)
    truth: dict[str, dict[str, Any]]


def _number_words(n: int) -> str:
    if n < 20:
        return NUMBER_WORDS[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS_WORDS[tens] + ("" if ones == 0 else "-" + NUMBER_WORDS[ones])
    return "a hundred" if n == 100 else str(n)


def _money(x: float) -> str:
    return f"${x:,.0f}" if x == int(x) else f"${x:,.2f}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _quote(people: int, kids: int, upsells: list[str]) -> float:
    adults = people - kids
    base = adults * ADULT_PRICE + kids * CHILD_PRICE + sum(UPSELL_PRICES[u] for u in upsells) * people
    return round(max(MINIMUM_ORDER, base), 2)


class _Builder:
    """Builds one conversation script; all randomness comes from the shared seeded rng."""

    def __init__(self, rng: random.Random, customer_pool: list[int]) -> None:
        self.rng = rng
        self.conversation_id = self._uuid()
        self.customer_id: int | None = None
        if rng.random() < 0.85:
            # Square the draw so a few regulars come back often, as real repeat customers do.
            self.customer_id = customer_pool[int(len(customer_pool) * rng.random() ** 2)]
        self.channel = rng.choices(("web", "sms", "phone"), weights=(60, 25, 15))[0]
        tones = CUSTOMER_TONE_WEIGHTS
        self.tone = rng.choices(list(tones), weights=list(tones.values()))[0]
        self.prompt_version = rng.choice(PROMPT_VERSIONS)
        self.llm = rng.choices(LLM_BACKENDS, weights=(50, 30, 20))[0]
        self.stt = rng.choice(STT_BACKENDS)
        self.tts = rng.choice(TTS_BACKENDS)
        self.beats: list[_Beat] = []
        self.tail: list[tuple[float, str, dict[str, Any]]] = []
        self.truth: dict[str, dict[str, Any]] = {}
        self.tags: list[str] = []
        self.history_tokens = 0
        self.first = rng.choice(FIRST_NAMES)
        self.last = rng.choice(LAST_NAMES)
        self.offered: list[str] = []
        self.accepted: list[str] = []
        self.frustration = 0
        self.booking_id: str | None = None
        self.ai_count = 0

    # -- primitives -------------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _envelope(self, event_type: str) -> dict[str, Any]:
        # occurred_at is stamped later, when the script is laid on a clock.
        return {
            "event_id": self._uuid(),
            "event_type": event_type,
            "schema_version": SCHEMA_VERSION,
            "occurred_at": None,
            "conversation_id": self.conversation_id,
            "customer_id": self.customer_id,
            "source": SOURCE,
        }

    def _service_call(
        self,
        service: str,
        provider: str,
        model: str,
        ok: bool,
        error: str | None,
        latency_ms: float,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
    ) -> tuple[str, dict[str, Any]]:
        ev = self._envelope("service.call")
        ev.update(
            service=service,
            provider=provider,
            model=model,
            ok=ok,
            error=error,
            latency_ms=round(latency_ms, 1),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )
        return CHAT_SERVICE_CALLS, ev

    def _noisy(self, text: str) -> str:
        """Casual writers text like people do: lowercase, slang, a typo, an emoji."""
        rng = self.rng
        casual = self.tone in ("casual", "warm")
        if casual and rng.random() < 0.45:
            text = text.lower()
        if casual and rng.random() < 0.4:
            for a, b in (
                ("you", "u"),
                ("please", "pls"),
                ("thanks", "thx"),
                ("want to", "wanna"),
                ("going to", "gonna"),
                ("people", "ppl"),
                ("tomorrow", "tmrw"),
            ):
                text = text.replace(a, b)
        if rng.random() < (0.18 if casual else 0.06):
            words = text.split(" ")
            idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
            if idx:
                i = rng.choice(idx)
                w = words[i]
                j = rng.randrange(len(w) - 1)
                words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
                text = " ".join(words)
        if casual and rng.random() < 0.3:
            text = text.rstrip(".") + " " + rng.choice(EMOJI)
        return text

    def customer(
        self,
        text: str,
        intent: str,
        entities: dict[str, Any] | None = None,
        noisy: bool = True,
        gap: tuple[float, float] = (4.0, 35.0),
    ) -> None:
        if noisy:
            text = self._noisy(text)
        ev = self._envelope("chat.message")
        ev.update(role="customer", text=text, channel=self.channel)
        events: list[tuple[str, dict[str, Any]]] = []
        if self.channel == "phone":
            # Voice turns are transcribed first; a failed transcription is retried once.
            provider, model = self.stt
            if self.rng.random() < 0.03:
                events.append(
                    self._service_call(
                        "stt",
                        provider,
                        model,
                        False,
                        self.rng.choice(STT_ERRORS),
                        self.rng.uniform(800, 5000),
                    )
                )
            events.append(self._service_call("stt", provider, model, True, None, self.rng.uniform(180, 900)))
        events.append((CHAT_MESSAGES, ev))
        self.beats.append(_Beat(self.rng.uniform(*gap), events))
        self.history_tokens += len(text) // 4 + 4
        frustrated = intent == "complaint" or self.frustration > 0
        self.truth[ev["event_id"]] = {
            "tone": self.tone,
            "intent": intent,
            "entities": entities or {},
            "frustrated": frustrated,
            "text": text,
        }

    def ai(
        self,
        text: str,
        requested: list[str] | None = None,
        upsells: list[str] | None = None,
        tone: str | None = None,
    ) -> None:
        rng = self.rng
        tone_used = tone or reply_tone(self.tone, frustrated=False)
        provider, model, (lo, hi) = self.llm
        tokens_in = PROMPT_TOKENS[self.prompt_version] + self.history_tokens + rng.randint(-20, 40)
        tokens_out = max(8, len(text) // 4 + rng.randint(-5, 25))
        events: list[tuple[str, dict[str, Any]]] = []
        waited = 0.0
        if rng.random() < 0.04:
            # A failed call falls back to another back end, as the assistant's router does.
            err_latency = rng.uniform(hi, 10000.0)
            events.append(
                self._service_call(
                    "llm", provider, model, False, rng.choice(LLM_ERRORS), err_latency, tokens_in, None
                )
            )
            waited += err_latency
            provider, model, (lo, hi) = rng.choice([b for b in LLM_BACKENDS if b[0] != provider])
        latency = rng.uniform(lo, hi) * (1.0 + tokens_in / 4000.0)
        events.append(self._service_call("llm", provider, model, True, None, latency, tokens_in, tokens_out))
        ev = self._envelope("chat.message")
        ev.update(
            role="ai",
            text=text,
            channel=self.channel,
            tone_used=tone_used,
            suggested_upsells=list(upsells or []),
            requested_slots=list(requested or []),
            model=model,
            provider=provider,
            prompt_version=self.prompt_version,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=round(waited + latency + rng.uniform(15, 90), 1),
        )
        events.append((CHAT_MESSAGES, ev))
        if self.channel == "phone":
            tts_provider, tts_model = self.tts
            ok = rng.random() >= 0.02
            events.append(
                self._service_call(
                    "tts",
                    tts_provider,
                    tts_model,
                    ok,
                    None if ok else rng.choice(TTS_ERRORS),
                    rng.uniform(150, 1200),
                )
            )
        self.beats.append(_Beat((waited + latency) / 1000.0 + rng.uniform(0.2, 1.5), events))
        self.history_tokens += tokens_out
        self.ai_count += 1

    def agent(self, text: str) -> None:
        ev = self._envelope("chat.message")
        ev.update(role="human_agent", text=text, channel=self.channel)
        self.beats.append(_Beat(self.rng.uniform(20.0, 120.0), [(CHAT_MESSAGES, ev)]))

    def outcome(self, booked: bool, total: float) -> None:
        ev = self._envelope("booking.outcome")
        ev.update(
            booked=booked,
            booking_id=f"BK{self.rng.randint(10000, 99999)}" if booked else None,
            total_value=round(total, 2) if booked else 0.0,
            offered_upsells=sorted(set(self.offered)),
            accepted_upsells=sorted(set(self.accepted)) if booked else [],
        )
        self.booking_id = ev["booking_id"]
        self.tail.append((self.rng.uniform(0.5, 5.0), CHAT_OUTCOMES, ev))

    def survey(self, good: bool) -> None:
        rng = self.rng
        if good:
            rating = rng.choices((3, 4, 5), weights=(10, 35, 55))[0]
            understood: bool | None = rng.random() < 0.95
            tone_ok: bool | None = rng.random() < 0.95
            free = rng.choice(
                (
                    None,
                    None,
                    None,
                    "Super easy, thanks!",
                    "Quick and friendly.",
                    "Loved that it remembered my party size",
                    "Would be nice to see photos of the menu",
                )
            )
        else:
            rating = rng.choices((1, 2, 3), weights=(45, 35, 20))[0]
            understood = rng.random() < 0.3
            tone_ok = rng.random() < 0.5
            free = rng.choice(
                (
                    "The bot kept asking me the same thing",
                    "Took forever to get a price",
                    "It didn't understand my party size",
                    "I had to ask for a real person",
                    "Still waiting on my refund",
                    None,
                )
            )
        if rng.random() < 0.15:
            understood = None  # the question was skipped
        if rng.random() < 0.15:
            tone_ok = None
        ev = self._envelope("survey.response")
        ev.update(rating=rating, understood=understood, tone_appropriate=tone_ok, free_text=free)
        # Sent soon after the chat ends, as a post-booking survey usually is.
        self.tail.append((rng.uniform(20.0, 120.0), CHAT_SURVEYS, ev))

    def script(self) -> _Script:
        return _Script(
            self.conversation_id, self.customer_id, tuple(self.tags), self.beats, self.tail, self.truth
        )


# ---------------------------------------------------------------------------------------------------------
# Phrasings


def _party_phrase(rng: random.Random, n: int) -> tuple[str, int]:
    """A way of writing a party of `n`; returns (text, kids)."""
    options: list[tuple[str, int]] = [
        (f"{n} people", 0),
        (f"party of {n}", 0),
        (f"{_number_words(n)} guests", 0),
        (f"{n} ppl", 0),
        (f"about {n} guests", 0),
        (f"{n} of us", 0),
        (f"{_number_words(n)} people total", 0),
        (f"me and my {n - 1} friends", 0),
    ]
    if n == 12:
        options += [("a dozen people", 0)] * 3
    if n == 24:
        options += [("two dozen guests", 0)] * 3
    if n >= 12:
        kids = rng.randint(2, max(2, n // 3))
        options += [(f"{n - kids} adults and {kids} kids", kids)] * 2
    return rng.choice(options)


def _date_phrase(rng: random.Random) -> tuple[str, str]:
    return rng.choice(DATE_PHRASES)


def _time_phrase(rng: random.Random) -> tuple[str, str]:
    return rng.choice(TIME_PHRASES)


def _party_size(rng: random.Random) -> int:
    return rng.choice((8, 10, 12, 12, 15, 18, 20, 20, 24, 25, 25, 30, 30, 35, 40, 45, 50, 60, 75))


# ---------------------------------------------------------------------------------------------------------
# Conversation flows


def _clock(hhmm: str) -> str:
    """'18:30' -> '6:30pm': how the assistant says a normalised time back."""
    h, m = (int(x) for x in hhmm.split(":"))
    suffix = "am" if h < 12 else "pm"
    h12 = h % 12 or 12
    return f"{h12}{suffix}" if m == 0 else f"{h12}:{m:02d}{suffix}"


def _on(date_text: str) -> str:
    """'on Jan 15' but 'in two weeks', 'next Saturday': only fixed dates take 'on'."""
    relative = date_text.split(" ")[0].lower() in ("in", "next", "this", "tmrw", "a", "memorial")
    return date_text if relative or date_text.startswith("the second") else f"on {date_text}"


# slot -> (question on its own, question inside "Could you tell me ...")
SLOT_QUESTIONS = {
    "people": ("How many guests will you have?", "how many guests you'll have"),
    "date": ("What date is the party?", "the date of the party"),
    "time": ("What time should the chef arrive?", "what time the chef should arrive"),
    "first_name": ("What name should I put the booking under?", "the name for the booking"),
}


def _ask_for(b: _Builder, missing: list[str], known: dict[str, Any], prefix: str = "") -> list[str]:
    """The AI asks for up to two missing slots (a full name counts as one); returns what it asked for."""
    rng = b.rng
    ask: list[str] = []
    for slot in ("people", "date", "time", "first_name", "last_name"):
        if slot in missing and len([s for s in ask if s != "last_name"]) < 2:
            ask.append(slot)
    if "first_name" in ask and "last_name" in missing and "last_name" not in ask:
        ask.append("last_name")
    ack = prefix
    if not ack and b.ai_count == 0:
        if "people" in known and rng.random() < 0.6:
            ack = rng.choice(
                (
                    f"Awesome! For {known['people']} guests, I just need a couple of details. ",
                    f"Great, {known['people']} guests! ",
                    f"Perfect, a party of {known['people']}! ",
                )
            )
        elif b.tone == "anxious":
            ack = "No worries at all, we'll take care of everything. "
        elif b.tone == "formal":
            ack = "Thank you for reaching out. "
        elif rng.random() < 0.5:
            ack = rng.choice(("Hi there! ", "Hey! Happy to help. ", "Sounds fun! "))
    elif not ack and rng.random() < 0.5:
        ack = rng.choice(("Got it. ", "Thanks! ", "Great. ", "Perfect. "))
    if "last_name" in ask and "first_name" not in ask:
        text = "And your last name?"
    elif rng.random() < 0.5:
        text = " ".join(SLOT_QUESTIONS[s][0] for s in ask if s in SLOT_QUESTIONS)
    else:
        text = "Could you tell me " + _join([SLOT_QUESTIONS[s][1] for s in ask if s in SLOT_QUESTIONS]) + "?"
    b.ai(ack + text, requested=ask)
    return ask


def _menu_question(b: _Builder) -> str:
    """The customer asks about the menu; returns the answer, which the AI folds into its next message."""
    rng = b.rng
    q, a = rng.choice(
        (
            (
                "Do you have vegetarian options?",
                "Yes! Vegetarian guests get tofu and extra grilled vegetables instead of meat.",
            ),
            (
                "my son has a shellfish allergy, is that ok?",
                "Absolutely. The chef cooks allergy orders first on a freshly cleaned grill, shellfish-free.",
            ),
            (
                "Is the food gluten free?",
                "We can use gluten-free tamari instead of soy sauce; just tell us how many.",
            ),
            (
                "what proteins come with it",
                "Each guest picks two proteins: chicken, steak, shrimp, salmon or tofu.",
            ),
            ("Can you do halal chicken?", "We can source halal chicken with a week's notice."),
            (
                "Does it come with salad and rice?",
                "Yes, every plate comes with salad, fried rice and grilled vegetables.",
            ),
            (
                "A few guests are vegan, any options?",
                "Yes, tofu with vegetables, and we skip the butter for them.",
            ),
        )
    )
    b.customer(q, "menu_question", {})
    return a + " "


def _answer_slots(b: _Builder, ask: list[str], truth: dict[str, Any], known: dict[str, Any]) -> None:
    """The customer answers the requested slots, sometimes only some of them."""
    rng = b.rng
    pieces: list[str] = []
    ents: dict[str, Any] = {}
    answer = list(ask)
    if len(answer) > 1 and rng.random() < 0.2:
        answer = answer[:1]  # people answer the first question and forget the second
    for slot in answer:
        if slot == "people":
            text, kids = _party_phrase(rng, truth["people"])
            truth["kids"] = kids
            pieces.append(rng.choice((f"we'll have {text}", f"{text}", f"it's {text}")))
            ents["people"] = truth["people"]
        elif slot == "date":
            pieces.append(
                rng.choice(
                    (f"{truth['date'][0]}", f"we're thinking {truth['date'][0]}", _on(truth["date"][0]))
                )
            )
            ents["date"] = truth["date"][1]
        elif slot == "time":
            said = truth["time"][0]
            hedged = said.startswith(("around", "like", "lunch"))
            pieces.append(
                rng.choice((f"at {said}", f"{said} works", said if hedged else f"start around {said}"))
            )
            ents["time"] = truth["time"][1]
        elif slot == "first_name":
            name = f"{b.first} {b.last}" if "last_name" in answer else b.first
            pieces.append(
                rng.choice((f"my name is {name}", f"I'm {name}", f"it's under {name}", f"{name} here"))
            )
            ents["first_name"] = b.first
            if "last_name" in answer:
                ents["last_name"] = b.last
        elif slot == "last_name" and "first_name" not in answer:
            pieces.append(rng.choice((f"last name is {b.last}", f"{b.last}", f"surname {b.last}")))
            ents["last_name"] = b.last
    for k in ents:
        known[k] = truth["people"] if k == "people" else True
    text = ", ".join(pieces)
    text = text[0].upper() + text[1:]
    intent = "booking_inquiry" if "people" in ents else "scheduling_question"
    b.customer(text, intent, ents)


def _price_question(b: _Builder, truth: dict[str, Any]) -> str:
    """The customer asks about price or budget; returns the answer for the AI's next message."""
    rng = b.rng
    n = truth["people"]
    budget = rng.choice((800, 1000, 1200, 1500, 2000, 2500))
    q = rng.choice(
        (
            ("How much is it per person?", {}),
            ("what's the price per head?", {}),
            (f"We have a budget of about ${budget}, is that enough for {n}?", {"people": n, "price": budget}),
            ("Is there a minimum?", {}),
            (f"how much would {n} people cost", {"people": n}),
            ("Do you charge a travel fee?", {}),
        )
    )
    b.customer(q[0], "pricing_question", q[1])
    est = _quote(n, 0, [])
    reply = (
        f"It's {_money(ADULT_PRICE)} per adult and {_money(CHILD_PRICE)} per child (12 and under), with a "
        f"{_money(MINIMUM_ORDER)} minimum. For {n} guests that's about {_money(est)} before add-ons."
    )
    if "price" in q[1]:
        reply += (
            " Good news, that fits!"
            if est <= budget
            else " That's a bit over, but we could trim the headcount or skip add-ons."
        )
    if "travel" in q[0]:
        reply = "Travel is free within 30 miles; after that it's $2 per mile. " + reply
    return reply + " "


def _correction(b: _Builder, truth: dict[str, Any]) -> str:
    """The customer changes a slot they already gave; returns the AI's acknowledgement for its next message."""
    rng = b.rng
    kind = rng.choices(("people", "date", "time"), weights=(60, 25, 15))[0]
    if kind == "people":
        old = truth["people"]
        new = max(8, old + rng.choice((-5, -4, -2, 2, 3, 5, 6, 10)))
        truth["people"] = new
        truth["kids"] = min(truth.get("kids", 0), new // 3)
        text = rng.choice(
            (
                f"actually make it {new}",
                f"Sorry, from {old} to {new}",
                f"wait we're {new} now, not {old}",
                f"Update: headcount changed to {new}",
                f"can we change it to {_number_words(new)} people?",
                f"oops, I meant {new} guests",
            )
        )
        b.customer(text, "modification_request", {"people": new, "correction": True})
        ack = f"No problem, I've updated it to {new} guests. "
    elif kind == "date":
        old_date = truth["date"]
        while truth["date"] == old_date:
            truth["date"] = _date_phrase(rng)
        text = rng.choice(
            (
                f"Actually can we do {truth['date'][0]} instead?",
                f"change of plans, {truth['date'][0]} works better",
                f"scratch that, let's move it to {truth['date'][0]}",
            )
        )
        b.customer(text, "modification_request", {"date": truth["date"][1], "correction": True})
        ack = f"Done, I've moved it to {truth['date'][0]}. "
    else:
        old_time = truth["time"][1]
        while truth["time"][1] == old_time:
            truth["time"] = _time_phrase(rng)
        text = rng.choice(
            (f"actually {truth['time'][0]} would be better", f"Can we push the start to {truth['time'][0]}?")
        )
        b.customer(text, "modification_request", {"time": truth["time"][1], "correction": True})
        ack = f"Sure, the chef will arrive at {_clock(truth['time'][1])}. "
    b.tags.append("correction")
    return ack


def _frustration(b: _Builder, truth: dict[str, Any]) -> str | None:
    """The assistant re-asks something it was told; returns None if a human agent took over, else the AI's
    apology for its next message."""
    rng = b.rng
    b.tags.append("frustration")
    b.frustration += 1
    b.ai("Sorry, how many guests did you say?", requested=["people"])
    n = truth["people"]
    b.customer(
        rng.choice(
            (
                f"I ALREADY said {n} {rng.choice(ANGRY_EMOJI)}",
                f"{n}!!! I told you twice",
                f"ugh, {n}. this is taking forever",
                f"Seriously? {n} people.",
            )
        ),
        "booking_inquiry",
        {"people": n},
        noisy=False,
        gap=(3.0, 12.0),
    )
    if rng.random() < 0.55:
        b.customer(
            rng.choice(
                (
                    "can I talk to a real person?",
                    "Is there a human I can talk to?",
                    "just get me an agent pls",
                )
            ),
            "complaint",
            {},
            noisy=False,
            gap=(2.0, 8.0),
        )
        b.ai("Of course, I'm connecting you with a member of our team now.", tone=FRUSTRATED_REPLY_TONE)
        agent = rng.choice(AGENT_NAMES)
        b.agent(
            f"Hi, this is {agent} from the catering team, sorry about the runaround! "
            f"I have {n} guests, I'll take it from here."
        )
        b.tags.append("human_agent")
        return None
    return f"My apologies! {n} guests, got it. "


def _booking_flow(b: _Builder) -> None:
    rng = b.rng
    truth: dict[str, Any] = {
        "people": _party_size(rng),
        "kids": 0,
        "date": _date_phrase(rng),
        "time": _time_phrase(rng),
    }
    known: dict[str, Any] = {}
    b.tags.append("booking")
    wants_price = rng.random() < 0.3
    wants_menu = rng.random() < 0.25
    will_correct = rng.random() < 0.22
    will_frustrate = rng.random() < 0.1
    abandon_at = rng.random()  # < 0.12 abandons; where it abandons depends on the value

    # Opening message: a greeting with whatever the customer already knows.
    opener_kind = rng.choices(
        ("people", "people_date", "bare", "price", "name"), weights=(35, 25, 15, 15, 10)
    )[0]
    n = truth["people"]
    if opener_kind in ("people", "people_date"):
        ptext, kids = _party_phrase(rng, n)
        truth["kids"] = kids
        ents: dict[str, Any] = {"people": n}
        greet = {
            "casual": ("Hey! ", "yo ", "hi! ", ""),
            "formal": ("Good afternoon. ", "Hello, "),
            "anxious": ("Hi, sorry to bother you, ", "Hello! I'm a bit stressed, "),
            "warm": ("Hi there! ", "Hello!! "),
            "direct": ("", "Hi. "),
        }[b.tone]
        verb = rng.choice(
            (
                "I wanna book a hibachi party for",
                "I'd like to book a chef for",
                "looking to book hibachi catering for",
                "Do you have availability for",
                "need a hibachi chef for",
                "I'm planning a birthday party with",
            )
        )
        text = f"{rng.choice(greet)}{verb} {ptext}"
        if opener_kind == "people_date":
            text += " " + _on(truth["date"][0])
            ents["date"] = truth["date"][1]
            known["date"] = True
        text += rng.choice(("", "!", "?", "."))
        b.customer(text[0].upper() + text[1:], "booking_inquiry", ents)
        known["people"] = n
    elif opener_kind == "bare":
        b.customer(
            rng.choice(
                (
                    "Hi",
                    "hello, do you do private hibachi parties?",
                    "Hey there",
                    "Hi, I'm interested in booking a hibachi chef",
                    "Good morning",
                )
            ),
            "booking_inquiry",
            {},
        )
    elif opener_kind == "price":
        b.customer(
            rng.choice(
                (
                    f"How much for hibachi for {n} people?",
                    f"price for a party of {n}??",
                    f"Hi, what would {n} guests cost?",
                )
            ),
            "pricing_question",
            {"people": n},
        )
        known["people"] = n
        est = _quote(n, 0, [])
        b.ai(
            f"It's {_money(ADULT_PRICE)} per adult with a {_money(MINIMUM_ORDER)} minimum, so {n} guests is about "
            f"{_money(est)}. Want me to check a date for you?",
            requested=["date"],
        )
        wants_price = False
        _answer_slots(b, ["date"], truth, known)
    else:
        b.customer(
            rng.choice(
                (
                    f"Hi, my name is {b.first} {b.last} and I'd like to book a hibachi party",
                    f"Hello, this is {b.first} {b.last}. Looking for a hibachi chef.",
                    f"I'm {b.first} {b.last}, want to book catering",
                )
            ),
            "booking_inquiry",
            {"first_name": b.first, "last_name": b.last},
        )
        known["first_name"] = known["last_name"] = True

    # Slot filling, with questions, corrections and frustration sprinkled in.
    asked_rounds = 0
    prefix = ""
    while True:
        missing = [s for s in ("people", "date", "time", "first_name", "last_name") if s not in known]
        if not missing:
            break
        if asked_rounds == 1 and abandon_at < 0.05:
            b.tags.append("abandoned")
            if rng.random() < 0.5:
                b.outcome(False, 0.0)
            return
        ask = _ask_for(b, missing, known, prefix)
        prefix = ""
        asked_rounds += 1
        if wants_menu and asked_rounds == 1:
            wants_menu = False
            prefix = _menu_question(b)
            continue
        if wants_price and asked_rounds == 2:
            wants_price = False
            _answer_slots(b, ask, truth, known)
            prefix = _price_question(b, truth)
            continue
        _answer_slots(b, ask, truth, known)
        if will_frustrate and "people" in known and asked_rounds >= 2:
            will_frustrate = False
            apology = _frustration(b, truth)
            if apology is None:
                _human_finish(b, truth)
                return
            prefix = apology
        if will_correct and asked_rounds >= 2 and "people" in known:
            will_correct = False
            prefix += _correction(b, truth)

    if abandon_at < 0.09:
        b.tags.append("abandoned")
        b.customer(
            rng.choice(
                (
                    "let me check with my wife and get back to you",
                    "ok I'll think about it",
                    "need to confirm the headcount first, brb",
                )
            ),
            "booking_inquiry",
            {},
        )
        if rng.random() < 0.6:
            b.outcome(False, 0.0)
        return

    # Upsells.
    n = truth["people"]
    pool = ["gyoza", "third_protein", "noodles", "fried_rice"]
    if n >= 15 or rng.random() < 0.4:
        pool += ["lobster", "filet_mignon"]
    offer = rng.sample(pool, k=rng.choice((1, 2, 2, 3)))
    b.offered = list(offer)
    names = [UPSELL_NAMES[u] for u in offer]
    b.ai(
        f"{prefix}You're all set for {n} guests {_on(truth['date'][0])} at {_clock(truth['time'][1])}. Would you like to add "
        f"{_join(names)}? Most parties your size love it.",
        upsells=offer,
    )
    roll = rng.random()
    if roll < 0.35:
        b.accepted = []
        b.customer(
            rng.choice(
                (
                    "no thanks, just the basic package",
                    "Nah we're good",
                    "No add-ons please.",
                    "maybe not, trying to keep it on budget",
                )
            ),
            "booking_inquiry",
            {},
        )
    else:
        k = 1 if roll < 0.75 else len(offer)
        b.accepted = offer[:k]
        acc_names = _join([UPSELL_NAMES[u] for u in b.accepted])
        b.customer(
            rng.choice(
                (
                    f"Yes add {acc_names}!",
                    f"let's do {acc_names}",
                    f"{acc_names} sounds great",
                    f"sure, {acc_names} please",
                    f"ooh yes to {acc_names}",
                )
            ),
            "booking_inquiry",
            {"upsells": list(b.accepted)},
        )
        if rng.random() < 0.2:
            b.customer(
                f"how much extra is the {UPSELL_NAMES[b.accepted[0]]}?",
                "pricing_question",
                {},
                gap=(2.0, 10.0),
            )
            b.ai(f"It's {_money(UPSELL_PRICES[b.accepted[0]])} per guest.")
    total = _quote(n, truth.get("kids", 0), b.accepted)
    b.ai(f"Your total comes to {_money(total)}. Shall I confirm the booking?", requested=[])
    if abandon_at < 0.12:
        b.tags.append("abandoned")
        b.customer(
            rng.choice(("hmm that's more than I expected", "ok let me think about it")),
            "pricing_question",
            {},
        )
        if rng.random() < 0.6:
            b.outcome(False, 0.0)
        if rng.random() < 0.2:
            b.survey(good=False)
        return
    b.customer(
        rng.choice(
            ("Yes please book it!", "yes", "Confirmed.", "do it", "yep book it 🙌", "Yes, please confirm.")
        ),
        "booking_inquiry",
        {},
        noisy=False,
        gap=(2.0, 15.0),
    )
    b.outcome(True, total)
    b.ai(
        f"Booked! Your confirmation number is {b.booking_id}. We'll text you the chef's name a day before.",
        requested=[],
    )
    if rng.random() < 0.6:
        signoff = rng.choice(
            (
                f"Thanks! - {b.first}",
                f"Cheers, {b.first} {b.last}",
                "thank you so much!!",
                f"Thanks, {b.first}",
                "perfect, see you then",
            )
        )
        b.customer(signoff, "booking_inquiry", {"first_name": b.first} if b.first in signoff else {})
    if rng.random() < 0.45:
        b.survey(good=b.frustration == 0 or rng.random() < 0.3)


def _human_finish(b: _Builder, truth: dict[str, Any]) -> None:
    rng = b.rng
    if rng.random() < 0.7:
        total = _quote(truth["people"], truth.get("kids", 0), [])
        b.agent(
            f"You're booked for {truth['people']} guests {_on(truth['date'][0])} at {_clock(truth['time'][1])}, "
            f"total {_money(total)}."
        )
        b.customer(
            rng.choice(("thank you!", "finally, thanks", "ok great")), "booking_inquiry", {}, noisy=False
        )
        b.outcome(True, total)
        if rng.random() < 0.6:
            b.survey(good=rng.random() < 0.4)
    else:
        b.customer("forget it, I'll book somewhere else", "complaint", {}, noisy=False)
        b.tags.append("abandoned")
        b.outcome(False, 0.0)
        if rng.random() < 0.5:
            b.survey(good=False)


def _complaint_flow(b: _Builder) -> None:
    rng = b.rng
    b.tags.append("complaint")
    b.frustration += 1
    minutes = rng.choice((30, 40, 45, 60, 90))
    text, ents = rng.choice(
        (
            (
                f"Our chef showed up {minutes} minutes late last Saturday and everyone was starving",
                {"minutes": minutes},
            ),
            ("the food was cold by the time it got to the tables", {}),
            ("The chef never showed up!!", {}),
            (
                f"I paid for lobster for 20 people and there wasn't any {rng.choice(ANGRY_EMOJI)}",
                {"people": 20},
            ),
            ("Your chef was rude to my guests and left early", {}),
            ("we were double charged for the party on the 12th", {}),
        )
    )
    b.customer(text, "complaint", ents, noisy=False, gap=(0.0, 5.0))
    b.ai(
        "I'm so sorry to hear that. Could you share the name on the booking so I can look into it?",
        requested=["first_name", "last_name"],
        tone=FRUSTRATED_REPLY_TONE,
    )
    b.customer(
        rng.choice((f"{b.first} {b.last}", f"It's {b.first} {b.last}", f"under {b.last}")),
        "complaint",
        {"first_name": b.first, "last_name": b.last},
        noisy=False,
    )
    if rng.random() < 0.7:
        b.customer(
            rng.choice(
                (
                    "I want a refund.",
                    "This was supposed to be my daughter's birthday",
                    "really disappointed tbh",
                    "what are you going to do about it?",
                )
            ),
            "complaint",
            {},
            noisy=False,
            gap=(2.0, 15.0),
        )
    b.ai(
        "I completely understand. I'm bringing in a member of our team who can make this right.",
        tone=FRUSTRATED_REPLY_TONE,
    )
    agent = rng.choice(AGENT_NAMES)
    credit = rng.choice((50, 100, 150, 200))
    b.agent(
        f"Hi {b.first}, this is {agent}. I'm really sorry about that. I've issued a ${credit} credit "
        f"and flagged it with the chef's manager."
    )
    b.tags.append("human_agent")
    if rng.random() < 0.4:
        b.customer(
            "ok, thank you. we'd like to rebook for next month then", "booking_inquiry", {}, noisy=False
        )
        truth: dict[str, Any] = {
            "people": _party_size(rng),
            "kids": 0,
            "date": _date_phrase(rng),
            "time": _time_phrase(rng),
        }
        b.agent(
            f"Of course! I've booked {truth['people']} guests for {truth['date'][0]}, with the credit applied."
        )
        b.outcome(True, max(MINIMUM_ORDER, _quote(truth["people"], 0, []) - credit))
    else:
        b.customer(
            rng.choice(("fine.", "ok thanks", "that's not enough honestly")), "complaint", {}, noisy=False
        )
        b.outcome(False, 0.0)
    if rng.random() < 0.5:
        b.survey(good=False)


def _build_script(rng: random.Random, customer_pool: list[int]) -> _Script:
    b = _Builder(rng, customer_pool)
    if rng.random() < 0.08:
        _complaint_flow(b)
    else:
        _booking_flow(b)
    return b.script()


def _scripts(seed: int) -> Iterator[_Script]:
    rng = random.Random(seed)
    # A fixed pool of customer ids, so customers come back across conversations.
    pool = rng.sample(range(1000, 100000), 400)
    while True:
        yield _build_script(rng, pool)


# ---------------------------------------------------------------------------------------------------------
# Clocks


def _utc(start: datetime) -> datetime:
    return start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _stamp(event: dict[str, Any], start: datetime, offset_s: float) -> dict[str, Any]:
    event["occurred_at"] = _iso(start + timedelta(seconds=offset_s))
    return event


def generate_conversations(
    *, seed: int, start: datetime, count: int | None = None
) -> Iterator[DemoConversation]:
    """Yield `count` conversations (forever if None), one after another from `start`, each on its natural clock.

    Conversations start a random 5 s - 3 min apart; every event's `occurred_at` is set. The same seed always
    gives the same conversations, event ids included.
    """
    start = _utc(start)
    clock = random.Random(f"{seed}:clock")
    t = 0.0
    for i, script in enumerate(_scripts(seed)):
        if count is not None and i >= count:
            return
        t += clock.uniform(5.0, 180.0) if i else 0.0
        at = t
        events: list[tuple[str, dict[str, Any]]] = []
        for beat in script.beats:
            at += beat.gap_s if events else 0.0
            events.extend((topic, _stamp(ev, start, at)) for topic, ev in beat.events)
        for delay, topic, ev in script.tail:
            at += delay
            events.append((topic, _stamp(ev, start, at)))
        yield DemoConversation(
            script.conversation_id, script.customer_id, script.scenario, events, script.truth
        )


# The most conversations open at once; past it, waiting conversations are hurried rather than new ones opened,
# which keeps memory bounded at benchmark rates.
MAX_ACTIVE = 2000


# The demo's labeller catches up with a labelled turn within this many seconds.
LABEL_DELAY_S = (30.0, 300.0)
LABEL_NAMESPACE = uuid.UUID("5b3e8f0a-2d4c-4b7e-9a61-0c8d2f4e6a13")


def label_events(message: dict[str, Any], truth: dict[str, Any]) -> list[dict[str, Any]]:
    """A human's tone and intent labels of a customer message, from the demo's ground truth (ids derived
    from the message's, so the same seed gives the same labels)."""
    return [
        {
            "event_id": str(uuid.uuid5(LABEL_NAMESPACE, f"{message['event_id']}:{field}")),
            "event_type": "label",
            "schema_version": SCHEMA_VERSION,
            "conversation_id": message["conversation_id"],
            "customer_id": message.get("customer_id"),
            "source": SOURCE,
            "message_event_id": message["event_id"],
            "field": field,
            "value": truth[field],
            "labeller": "demo-labeller",
        }
        for field in ("tone", "intent")
    ]


def iter_events(
    *,
    seed: int,
    start: datetime,
    rate_per_s: float,
    duration_s: float,
    label_share: float = 0.0,
) -> Iterator[tuple[float, str, dict[str, Any]]]:
    """Yield (offset seconds from `start`, topic, event) in time order for `duration_s` seconds.

    Chat messages arrive on a jittered clock of `rate_per_s` per second. Each slot goes to the open
    conversation that has waited longest past its natural think time; when none is ready a new conversation
    opens. So many conversations interleave at high rates, and each keeps a realistic pace. Service calls
    share their message's offset; outcomes and surveys follow later. Conversations still open at the end are
    cut off there. With `label_share` > 0, that share of customer messages gets a human's tone and intent
    labels on `labels.v1` (from the ground truth) half a minute to five minutes later, as a labeller working
    through a queue would: enough to walk the learning loop on demo data.
    """
    if rate_per_s <= 0:
        raise ValueError("rate_per_s must be positive")
    if not 0.0 <= label_share <= 1.0:
        raise ValueError("label_share must be between 0 and 1")
    start = _utc(start)
    clock = random.Random(f"{seed}:rate")
    labeller = random.Random(f"{seed}:labels")
    scripts = _scripts(seed)
    # Open conversations: (ready_at, tiebreak, script, index of next beat).
    ready: list[tuple[float, int, _Script, int]] = []
    pending: list[tuple[float, int, str, dict[str, Any]]] = []  # outcomes and surveys waiting for their time
    seq = 0
    k = 0
    while True:
        # Jitter each slot by under half a period, so slots stay ordered and the count stays exact.
        t = (k + clock.uniform(-0.45, 0.45)) / rate_per_s
        t = max(t, 0.0)
        k += 1
        if t >= duration_s:
            break
        while pending and pending[0][0] <= t:
            at, _, topic, ev = heapq.heappop(pending)
            yield at, topic, _stamp(ev, start, at)
        if not ready or (ready[0][0] > t and len(ready) < MAX_ACTIVE):
            script = next(scripts)
            heapq.heappush(ready, (t, seq, script, 0))
            seq += 1
        _, _, script, i = heapq.heappop(ready)
        for topic, ev in script.beats[i].events:
            yield t, topic, _stamp(ev, start, t)
            truth = script.truth.get(ev["event_id"]) if topic == CHAT_MESSAGES else None
            if truth is not None and label_share > 0 and labeller.random() < label_share:
                at = t + labeller.uniform(*LABEL_DELAY_S)
                for label in label_events(ev, truth):
                    heapq.heappush(pending, (at, seq, LABELS, label))
                    seq += 1
        if i + 1 < len(script.beats):
            heapq.heappush(ready, (t + script.beats[i + 1].gap_s, seq, script, i + 1))
            seq += 1
        else:
            at = t
            for delay, topic, ev in script.tail:
                at += delay
                heapq.heappush(pending, (at, seq, topic, ev))
                seq += 1
    while pending and pending[0][0] < duration_s:
        at, _, topic, ev = heapq.heappop(pending)
        yield at, topic, _stamp(ev, start, at)
