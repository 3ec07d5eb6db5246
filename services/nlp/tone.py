"""Tone labels, sentiment and frustration cues, and the reply tone the assistant should answer in."""

from __future__ import annotations

import re

TONES = ("formal", "casual", "anxious", "warm", "direct")
SENTIMENTS = ("negative", "neutral", "positive")

# What the assistant should sound like, given how the customer sounds.
REPLY_TONE = {
    "anxious": "reassuring",
    "formal": "professional",
    "casual": "friendly",
    "warm": "warm",
    "direct": "concise",
}

# Strong frustration cues that a small learned head can miss on short messages.
FRUSTRATION_RE = re.compile(
    r"\b(?:unacceptable|ridiculous|terrible|worst|furious|pissed|fed\s+up|sick\s+of|never\s+again|refund|"
    r"wtf|ugh+|third\s+time|still\s+waiting|no\s+one\s+(?:answered|called)|nobody\s+(?:showed|answered|called)|"
    r"waste\s+of|scam|rude|disappointed|disgusting|annoyed|frustrated|angry)\b|!!!|\?\?\?",
)  # matched on lower-cased text


def sounds_frustrated(text: str, lower: str | None = None) -> bool:
    return FRUSTRATION_RE.search(text.lower() if lower is None else lower) is not None


def reply_tone(tone: str, frustrated: bool) -> str:
    return "apologetic" if frustrated else REPLY_TONE.get(tone, "friendly")
