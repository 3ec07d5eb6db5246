"""Frustration cues: the words and punctuation that mark an unhappy customer whatever the learned heads say.

(Tone labels and the reply-tone map are event vocabulary: schemas.vocabulary.)
"""

from __future__ import annotations

import re

from services.common.lowercase import lower_aligned

# Strong frustration cues that a small learned head can miss on short messages.
FRUSTRATION_RE = re.compile(
    r"\b(?:unacceptable|ridiculous|terrible|worst|furious|pissed|fed\s+up|sick\s+of|never\s+again|refund|"
    r"wtf|ugh+|third\s+time|still\s+waiting|no\s+one\s+(?:answered|called)|nobody\s+(?:showed|answered|called)|"
    r"waste\s+of|scam|rude|disappointed|disgusting|annoyed|frustrated|angry)\b|!!!|\?\?\?",
)  # matched on lower-cased text


def sounds_frustrated(text: str, lower: str | None = None) -> bool:
    return FRUSTRATION_RE.search(lower_aligned(text) if lower is None else lower) is not None
