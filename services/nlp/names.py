"""Name slot rule: only the customer's own name ("my name is X", "this is X from ...", a sign-off "- Maria").

Third parties ("Chef Tony was great") are never the customer's name, so only first-person cues count.
"""

from __future__ import annotations

import re

from services.common.lowercase import lower_aligned
from services.nlp.entities import Claimed, Entity, has_any

# Name words may carry accents ("Tomás", "Wróbel"): letters are any Unicode letter after an ASCII or Latin-1
# capital.
_UPPER = r"[A-ZÀ-ÖØ-ÞĀ-ſ]"
_LETTERS = r"(?:[^\W\d_]|['\-])+"
_CAP = rf"{_UPPER}{_LETTERS}"
_ANY = rf"(?:{_UPPER}|[a-z]){_LETTERS}"
# Words that follow "I'm"/"it's"/"this is" but are not names.
_NOT_NAMES = frozenset(
    """a an the just so very really looking trying wondering hoping planning interested calling writing
    reaching asking checking thinking going gonna not here back still also sorry sure ok okay fine good great
    happy glad excited nervous worried afraid confused curious ready available free new done booking hosting
    throwing having getting putting organizing organising celebrating emailing texting from with about on in at
    for to of and or but if that this it yes no hi hey hello thanks thank please cool awesome chef your you we
    our my me us they them he she his her who what when where why how which one two three four five six seven
    eight nine ten all both each every some any more most many much few less least own same other such only
    definitely probably maybe totally kinda sorta pretty super quite hungry stoked pumped thrilled frustrated
    annoyed upset disappointed concerned unsure positive certain afternoon evening morning tonight tomorrow today
    monday tuesday wednesday thursday friday saturday sunday january february march april may june july august
    september october november december hibachi catering party dinner lunch event wedding birthday
    mr mrs ms miss dr sir madam team everyone everybody guys folks bye goodbye cheers vegetarian vegan allergic
    late early sick table booking reservation party name out stuck home there lost merry christmas holidays
    see talk soon appreciated regards wishes love btw now asap ugh lol lmao haha omg urgent help anyone anybody
    someone refund pls plz thx ty yay wow hmm nope yep yeah bye update note message quick i i'm im i’m go greetings""".split()
)
# A sign-off's closing words: "Kind regards,", "Thank you so much,", "Yours faithfully,", "xo", "Mahalo,".
_CLOSERS = (
    r"(?i:thanks(?:\s+(?:so|very)\s+much|\s+again|\s+a\s+(?:million|lot|bunch|ton))?|thank\s+you(?:\s+(?:so|very)\s+much"
    r"|\s+again)?|many\s+thanks|cheers|best(?:\s+wishes|\s+regards)?|(?:kind|warm|warmest|best)\s+regards|regards"
    r"|warm(?:est)?\s+wishes|warmly|sincerely|yours\s+(?:faithfully|sincerely|truly)|respectfully|with\s+(?:appreciation|gratitude|thanks)"
    r"|mahalo|gracias|merci(?:\s+beaucoup)?|danke(?:\s+sch(?:ö|oe)n)?|greetings(?:\s+from)?|thank\s+you\s+kindly"
    r"|(?:much\s+)?love|xoxo|xo|xx|hugs|thx|ty)"
)
# Titles and forms of address before a name ("Rev. Samuel Adeyemi", "Coach Dave", "Aunt Gwen").
_TITLES = (
    r"(?:Rev|Fr|Dr|Mr|Mrs|Ms|Mx|Prof|Sr|Sra|Col|Capt|Lt|Sgt|Maj|Gen|Hon|Judge|Pastor|Rabbi|Councilmember"
    r"|Councilwoman|Councilman|Senator|Mayor|Coach|Officer|Deputy|Detective|Aunt|Auntie|Uncle|Grandma|Grandpa|Nana)"
)
# A title before the name: kept in the surface, left out of the value.
_HONORIFIC = rf"(?P<hon>{_TITLES}\.?\s+)?"
# A written name: "Angela Reyes", "A. Romero", "Dan K."
_NAME_WORDS = rf"(?:[A-Z]\.\s*)?{_CAP}(?:\s+(?:[A-Z]\.\s*)?{_CAP}|\s+[A-Z]\b\.?)?"
# What may follow a signed name: ", Office Manager", ", Events Director, Harborview Hotel", ", MD".
_AFTER_SIGNATURE = (
    r"(?:[ \t]*\([^()\n]{1,30}\))?"
    r"(?:(?:\s*,\s*|[ \t]*\n\s*|[ \t]*\|[ \t]*|[ \t]+from[ \t]+)[A-Z][\w.&'’-]*(?:[ \t]+(?:of|at|for|&|and|the|[A-Z][\w.&'’-]*)){0,5}){0,3}"
)
# No pattern puts two whitespace runs side by side (`\s*[.!]?\s*`): on a long run of spaces `re` tries every
# way to split the run between them, and one 16,000-character message took minutes. Optional punctuation
# carries its own trailing whitespace instead (`\s*(?:[.!]\s*)?`), which matches the same texts.
_CUES: list[tuple[re.Pattern[str], float, bool]] = [
    # (pattern with the name in group 1, confidence, case-insensitive name allowed)
    (
        re.compile(
            rf"\b(?:my\s+name\s+is|my\s+name's|name\s+(?:(?:on|for|under)\s+the\s+(?:booking|reservation)\s+)?is|name's|names\s+is|the\s+name\s+is|name\s*:)\s*({_ANY}(?:\s+{_CAP})?)",
            re.I,
        ),
        0.95,
        True,
    ),
    (
        re.compile(
            rf"\b(?:under|on|for|in)\s+(?:the\s+|my\s+)?(?:name\s*,?\s+(?:of\s+)?)({_CAP}(?:\s+{_CAP})?)", re.I
        ),
        0.9,
        False,
    ),
    (re.compile(rf"\bunder\s+({_CAP}(?:\s+{_CAP})?)"), 0.85, False),
    (
        re.compile(
            rf"\b(?:booking|reservation|table|booked|reserved|cancel\s+the\s+table)\s+(?:is\s+)?(?:for|under)\s+(?:I\s+think\s+)?({_CAP}\s+{_CAP})\b"
        ),
        0.8,
        False,
    ),
    (
        re.compile(
            rf"^\s*({_CAP}\s+{_CAP})\s+(?:has|had|have|made)\s+(?:a\s+|the\s+)?(?:booking|reservation|table)"
        ),
        0.8,
        False,
    ),
    (
        re.compile(rf"\b(?:[Cc]all\s+(?:me|be)|[Ii]\s+go\s+by|[Mm]y\s+names)\s+({_CAP}(?:\s+{_CAP})?)"),
        0.85,
        False,
    ),
    (re.compile(rf"\b({_CAP}(?:\s+{_CAP})?)\s+is\s+(?:my|the)\s+name\b"), 0.9, False),
    (
        re.compile(
            rf"\b(?:[Tt]his\s+is|[Ii]t'?s|[Ii]t\s+is|[Ii]\s*'?m|[Ii]\s+am)\s+(?:{_TITLES}\.?\s+)?({_CAP}(?:\s+{_CAP})?)(?=\s+(?:from|with|at|here|again|calling|writing|btw|speaking|by\s+the\s+way)\b|\s*[,.!;:)]|\s+\(|\s*$|\s+(?:and|&)\s|\s*[—–-]\s)"
        ),
        0.85,
        False,
    ),
    (re.compile(rf"^\s*(?:(?:[Hh]i|[Hh]ey|[Hh]ello)+[,!]?\s*|[,!]\s*)?({_CAP}(?:\s+[A-Z]\.)?)\s+here\b"), 0.8, False),
    (re.compile(rf"(?:^|[.!?,]\s+)({_CAP}(?:\s+[A-Z]\.)?)\s+here\b"), 0.8, False),
    # "Eleanor Whitcombe writing.", "Chen Li speaking", "Hello. Wei Zhang from Pacific Rim Trading."
    (re.compile(rf"(?:^|[.!?,]\s+)({_CAP}(?:\s+{_CAP})?)\s+(?:writing|speaking)\b"), 0.8, False),
    (re.compile(rf"(?:^\s*|^\s*{_CAP}[.!,]\s+)({_CAP}\s+{_CAP})\s+from\s+(?:the\s+)?{_CAP}"), 0.75, False),
    # "Hi, Melissa from Brightline Dental here", "Ken from Pacific Ridge Realty."
    (re.compile(rf"^\s*(?:(?:[Hh]i|[Hh]ey|[Hh]ello)[,!]?\s+)?({_CAP})\s+from\s+(?:the\s+)?{_CAP}"), 0.75, False),
    # "Update from Marco:", "quick update from jess", "Contact: A. Romero", "I'm his assistant, Claire."
    (re.compile(rf"\b(?:[Uu]pdate|[Nn]ote|[Mm]essage)\s+from\s+({_ANY})\b(?!\s+(?:at|from|in)\b)"), 0.8, True),
    (
        re.compile(rf"\b(?:[Cc]ontact(?:\s+(?:name|person))?|[Oo]rganiser|[Oo]rganizer|[Bb]ooked\s+by)\s*:\s*({_NAME_WORDS})"),
        0.9,
        False,
    ),
    (re.compile(rf"\b[Ii]'?m\s+(?:his|her|their|the)\s+[a-z]+,\s+({_CAP})\b"), 0.8, False),
    # A sign-off at the very end: "- Maria", "- greg.", "-R. Gomez", "Thanks, Maria", "Cheers, Dan K."
    (
        re.compile(
            rf"(?:^|\s)[-–—~]+\s*(?:{_TITLES}\.?\s+)?((?:[A-Z]\.\s*)?{_ANY}(?:\s+(?:{_CAP}|[A-Z])\.?)?){_AFTER_SIGNATURE}\s*(?:[^\w\s]\s*)*$"
        ),
        0.8,
        False,
    ),
    (
        re.compile(
            rf"\b{_CLOSERS}\s*(?:[,!.]\s*)*{_HONORIFIC}(?P<name>(?:[A-Z]\.\s*)?{_CAP}(?:\s+(?:[A-Z]\.\s*)?{_CAP}\.?|\s+[A-Z]\b\.?)?){_AFTER_SIGNATURE}\s*(?:[.!]\s*)?$"
        ),
        0.8,
        False,
    ),
    # All-lower-case chat: "i'm carlos." counts only before a full stop, a comma or "from"/"here"/"again", and
    # outside the stop list.
    (
        re.compile(r"\b(?:i'?m|i\s+am|this\s+is|it'?s)\s+([a-z][a-z'\-]+)(?=\s*[.,]|\s+(?:from|here|again|btw)\b)"),
        0.7,
        True,
    ),
]
# A full name alone at the very end, after the last sentence: "Party of eight, Friday 12/19. Dana Whitfield."
# Only the first newline of a run may start it: from every newline of a long run, `\n\s*` would scan the rest.
_NAME_AT_END = re.compile(rf"(?:[.!?]\s+|(?<!\s)\n\s*){_HONORIFIC}(?P<name>(?:[A-Z]\.\s*)?{_CAP}\s+(?:[A-Z]\.\s*)?{_CAP}|[A-Z]\.\s*{_CAP}|{_CAP}\s+[A-Z]\b)\.?{_AFTER_SIGNATURE}\s*$")
# A first name alone at the very end, after the last sentence: "... maybe 16 girls plus 4 parents. Jen",
# "14 of us. Mei", "Fix this. Gloria", "Thanks! Carla (manager)". Weaker than a full name: one word could be
# anything, so it must be capitalised, not a known word, and end the message bare: "Ridiculous." and
# "Unacceptable." close complaints with a full stop, signatures close without one.
_FIRST_NAME_AT_END = re.compile(r"(?<![A-Z])[.!?)]\s+(?P<name>[A-Z][a-zà-ÿ'’-]+)(?:[ \t]*\([^()\n]{1,30}\))?[ \t]*$")
# A word ending as a verb or adverb does ("Much Appreciated", "Regarding") is no name at a message's end.
_VERB_OR_ADVERB = re.compile(r"(?:ing|ed|ly)$")
# Per cue, in the same order: text the lower-cased message must contain for the cue to be tried at all.
_I_AM = re.compile(r"this\s+is|it'?s|it\s+is|i\s*'?m|i\s+am")
_CUE_GATES: list[re.Pattern[str] | tuple[str, ...]] = [
    ("name",),
    ("name",),
    ("under",),
    ("for", "under"),
    ("booking", "reservation", "table"),
    ("call", "go", "names"),
    ("name",),
    _I_AM,
    ("here",),
    ("here",),
    ("writing", "speaking"),
    ("from",),
    ("from",),
    ("update", "note", "message"),
    ("contact", "organi", "booked by"),
    ("m his ", "m her ", "m their ", "m the "),
    ("-", "–", "—", "~"),
    (
        "thank", "cheers", "best", "regards", "thx", "ty", "sincerely", "warm", "yours", "respectfully",
        "with", "mahalo", "gracias", "love", "xo", "xx", "hugs", "merci", "danke", "greetings",
    ),
    _I_AM,
]
_BARE = re.compile(
    rf"^\s*(?:(?:it'?s|its|i'?m|this\s+is|name'?s|name\s+is|my\s+name\s+is)\s+)?({_ANY}(?:\s+{_ANY}){{0,2}})(?:\s+is\s+(?:my|the)\s+name)?\s*(?:[.!]\s*)?$",
    re.I,
)


_WORD = re.compile(r"\S+")


def _kept_span(text: str, start: int, end: int, words: int) -> tuple[int, int]:
    """Offsets in `text` of the first `words` words of text[start:end], less a trailing full stop.

    The surface is cut from the text as written: rebuilding it from split words would turn "Dana  Lee" into
    "Dana Lee" and end the span one character short of the name."""
    last = list(_WORD.finditer(text, start, end))[words - 1]
    end = last.end()
    while end > last.start() and text[end - 1] == ".":
        end -= 1
    return start, end


# A signature that names a department or a firm ("Regards, Procurement Department") is no person's name, and
# "it's Memorial Day" names a holiday.
_ORGANISATION_WORDS = frozenset(
    """department dept office committee team group company corp inc llc ltd hotel events board staff logistics
    manager coordinator director assistant officer president ceo owner planner secretary supervisor associate
    executive specialist administrator analyst chair trading memorial labor labour independence thanksgiving
    easter halloween valentine valentines day eve""".split()
)


def _clean(name: str, strict: bool = False) -> str | None:
    """Drop trailing non-name words; `strict` (lower-case cues) also rejects adjective- and verb-like words."""
    parts = name.strip().rstrip(".").split()
    if any(p.lower().strip(".,") in _ORGANISATION_WORDS for p in parts):
        return None
    while parts and parts[-1].lower() in _NOT_NAMES:
        parts.pop()
    if parts:
        # "A. from" leaves "A.": its full stop goes, as it goes from the surface (`_kept_span`).
        parts[-1] = parts[-1].rstrip(".")
    if not parts or not parts[-1] or parts[0].lower() in _NOT_NAMES:
        return None
    if strict and re.search(r"(?:ing|ed|ly|ful|ous|ive|ian|ic|ant|ent|y|ble|al|ary|ory|less|ate)$", parts[0].lower()):
        return None
    return " ".join(p if p[0].isupper() else p.capitalize() for p in parts)


def find_name(
    text: str,
    *,
    blocked: list[tuple[int, int]] | None = None,
    expect_name: bool = False,
    lower: str | None = None,
) -> Entity | None:
    taken = Claimed(blocked or ())
    if lower is None:
        lower = lower_aligned(text)
    if expect_name:
        m = _BARE.match(text)
        if m:
            name = _clean(m.group(1))
            if name:
                start, end = _kept_span(text, m.start(1), m.end(1), len(name.split()))
                return Entity(text[start:end], name, 0.85, False, start, end)
    for (pattern, conf, lowercase_cue), gate in zip(_CUES, _CUE_GATES, strict=True):
        if not (has_any(lower, gate) if isinstance(gate, tuple) else gate.search(lower)):
            continue
        group = "name" if "name" in pattern.groupindex else 1
        for m in pattern.finditer(text):
            if taken.overlaps(m.start(group), m.end(group)):
                continue
            name = _clean(m.group(group), strict=lowercase_cue and m.group(group).islower())
            if not name:
                continue
            return _entity(text, m, group, name, conf)
    m = _NAME_AT_END.search(text)
    if m and not taken.overlaps(m.start("name"), m.end("name")):
        name = _clean(m.group("name"))
        # Both words must survive the stop list, and neither may read like a verb or adverb ("Much Appreciated").
        if name and len(name.split()) == len(m.group("name").split()) and not any(
            _VERB_OR_ADVERB.search(w.lower()) for w in name.split()
        ):
            return _entity(text, m, "name", name, 0.7)
    kept = text.rstrip()
    # Only a message that ends in a letter or a bracket can end in a bare first name; the match spans at most
    # the last few dozen characters, so only those are searched.
    tail = kept[-1:]
    m = _FIRST_NAME_AT_END.search(kept, max(0, len(kept) - 80)) if tail.isalpha() or tail == ")" else None
    if m and not taken.overlaps(m.start("name"), m.end("name")):
        name = _clean(m.group("name"))
        if name and name == m.group("name") and not _VERB_OR_ADVERB.search(name.lower()):
            return _entity(text, m, "name", name, 0.6)
    return None


def _entity(text: str, m: re.Match[str], group: int | str, name: str, confidence: float) -> Entity:
    """The name found in `group`, its surface cut from the text as written: aligned with what was cleaned off
    the end ("Dana from" -> "Dana"), and starting at a title before the name ("Fr. Michael Duarte"), which the
    value leaves out."""
    start, end = _kept_span(text, m.start(group), m.end(group), len(name.split()))
    if "hon" in m.re.groupindex and m.group("hon"):
        start = m.start("hon")
    return Entity(text[start:end], name, confidence, False, start, end)
