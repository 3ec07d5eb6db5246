"""Runs the slot rules in a fixed order so that each number is claimed once: PII, prices, dates, times, counts."""

from __future__ import annotations

import re
from datetime import date

from services.common.lowercase import lower_aligned
from services.nlp import pii
from services.nlp.dates import find_dates
from services.nlp.entities import Entity
from services.nlp.names import find_name
from services.nlp.party_size import find_party_size
from services.nlp.prices import find_budget, find_prices
from services.nlp.times import find_times

# Numbers that belong to an address, an age or a duration are never head counts or clock times.
_NOT_COUNTS = re.compile(
    r"\b\d{1,6}(?!\s+(?:at|in|on|for|of|our|my|the|your|his|her|their|to|by)\b)\s+(?:[a-z][a-z]+\s+){1,3}(?:st|street|ave|avenue|rd|road|blvd|boulevard|ln|lane|dr|drive|way|ct|court|pl|place|pkwy|hwy|cir|circle|ter|terrace)\b\.?"
    r"|\b(?:turns?|turning|aged?|(?:son|daughter|kid|he|she|who)\s+is)\s+\d{1,3}\b(?!\s*(?:people|guests|of\s+us|adults|kids))"
    r"|\b\d{1,3}\s*(?:years?|yrs?|yo)(?:\s+old)?\b|\b\d{1,3}(?:st|nd|rd|th)\s+(?:birthday|bday|b-day|anniversary)\b"
    r"|\b(?:suite|apt|unit|room|#)\s*\d+\b|\bzip(?:\s*code)?\s*\d{5}\b|\b\d{5}(?:-\d{4})?\b"
)  # matched on the lower-cased text
_DIGIT_RE = re.compile(r"\d")
REQUESTED_NAMES = {
    "people": "party_size",
    "date": "date",
    "time": "time",
    "first_name": "name",
    "last_name": "name",
}


def extract(
    text: str, base: date, requested_slots: tuple[str, ...] = (), *, lower: str | None = None
) -> tuple[dict[str, Entity], dict[str, bool]]:
    """Slots keyed party_size/date/time/name/prices/budget, and the PII flags.

    `lower` is the text from `lower_aligned`, when the caller already has it."""
    if lower is None:
        lower = lower_aligned(text)
    phones = pii.phone_spans(text)
    emails = pii.email_spans(text)
    entities: dict[str, Entity] = {}
    prices = find_prices(text)
    blocked = phones + emails + [(p.start, p.end) for p in prices]
    if prices:
        # Every amount, listed: no one span of the text reads like this, so none is given (start = end = -1).
        entities["prices"] = Entity(", ".join(p.surface for p in prices), [p.value for p in prices], 0.95)
        budget = find_budget(text, prices)
        if budget:
            entities["budget"] = budget
    wanted = {REQUESTED_NAMES.get(s, s) for s in requested_slots}
    first_wanted = REQUESTED_NAMES.get(requested_slots[0], "") if requested_slots else ""
    non_counts = [m.span() for m in _NOT_COUNTS.finditer(lower)] if _DIGIT_RE.search(text) else []

    dates = find_dates(text, base, blocked=blocked + non_counts, expect_date="date" in wanted, lower=lower)
    if dates:
        events_dates = _the_events_dates(lower, dates)
        if events_dates:
            entities["date"] = _newest(text, events_dates)
        blocked += [(d.start, d.end) for d in dates]
    # A bare number answering "how many?" is a count before it is a clock time.
    count_first = "party_size" in wanted and (first_wanted == "party_size" or "time" not in wanted)
    if count_first:
        ps = find_party_size(text, blocked=blocked + non_counts, expect_count=True, lower=lower)
        if ps is not None:
            entities["party_size"] = ps
            blocked.append((ps.start, ps.end))
    times = find_times(text, blocked=blocked + non_counts, expect_time="time" in wanted, lower=lower)
    if times:
        # A clock time says more than a part of day: "tomorrow night at 9:30PM" is 21:30.
        clock = [t for t in times if ":" in str(t.value)]
        events_times = _the_events_times(lower, clock or times)
        if events_times:
            chosen = _newest(text, events_times)
            preferred = _preferred_times(lower, events_times)
            if chosen is events_times[0] and preferred:
                # No change or correction picked one ("7:30 no I mean 8:30"): the meal's or the start's.
                chosen = _newest(text, preferred)
            entities["time"] = chosen
        blocked += [(t.start, t.end) for t in times]
    if "party_size" not in entities:
        ps = find_party_size(
            text, blocked=blocked + non_counts, expect_count="party_size" in wanted, lower=lower
        )
        if ps is not None:
            entities["party_size"] = ps
            blocked.append((ps.start, ps.end))
    # A name never takes the characters of the count, date or time kept ("name is half a dozen").
    kept_spans = [(e.start, e.end) for key, e in entities.items() if key in ("party_size", "date", "time")]
    name = find_name(
        text, blocked=phones + emails + kept_spans, expect_name="name" in wanted and not entities, lower=lower
    )
    if name is not None:
        entities["name"] = name
    return entities, {"phone": bool(phones), "email": bool(emails)}


_CHANGE_BETWEEN = re.compile(
    r"^\s*(?:to|->|→|(?:,\s*)?(?:no|sorry|actually|wait|i\s+meant|i\s+mean),?(?:\s*(?:i\s+meant|make\s+it))?|.{0,25}\bto"
    r"|[,;]?\s*(?:and\s+|but\s+)?now\b(?:.{0,20}\bat)?)\s*$",
    re.I,
)
# Text that ends with a cue for a new value: "I put the 11th but I meant the 12th", "scratch the 4pm, make it
# 4:30", "is it possible to switch to the 15th", "push it from the 18th to later, maybe the 25th".
_CHANGE_CUE_AT_END = re.compile(
    r"(?:\b(?:meant|mean|make\s+(?:it|that)|change\s+(?:it|that)|switch(?:\s+it)?|move\s+(?:it|us)|scratch\s+that"
    r"|rather|maybe|actually|instead)|\b(?:switch|change|move|moved|push|pushed|reschedule|rescheduled|bump|shift)"
    r"\b[^.!?]{0,30}\bto)[\s,:;-]*(?:to\s+|on\s+|for\s+|at\s+)?$",
    re.I,
)
_CUE_TAIL_CHARS = 80
# "from 12:30 to 2:00 p.m." is a span, and its start counts; "move it from 6pm to 7" is a change.
_SPAN_TO = re.compile(r"^\s*(?:to|till|until|->|→)\s*$", re.I)
_CHANGE_VERB_BEFORE = re.compile(
    r"\b(?:move|moving|moved|push|pushing|pushed|change|changing|changed|switch|switching|resched\w*|bump|bumped"
    r"|shift|shifted|update|updated|swap|postpon\w*|delay\w*|revis\w*|amend\w*|adjust\w*)\b"
    r"|\b(?:it|us|start|time)\s+(?:back\s+|up\s+)?from\s*$",
    re.I,
)
_INSTEAD_OF = re.compile(r"^\s*instead\s+of\s*$", re.I)
# "Instead of Saturday at 7, could we have Sunday at 6?", "start at 6 instead", "not 3/15 but 3/22": the later one.
# "was 3/21, now 3/22", "Originally 4/20 ..., now 4/27", "Scratch the 12th. We're doing the 19th": the earlier
# one is the old value too.
_INSTEAD_OF_BEFORE = re.compile(
    r"\binstead\s+of\b[^.!?\n]{0,30}$|\b(?:originally|scratch)\s+$|(?:^|[:;,.!?]\s*)was\s+$", re.I
)
_INSTEAD_AFTER = re.compile(
    r"^[^.!?\n]{0,20}?\binstead\b(?!\s+of)|^\s*(?:it\s+is\b|it'?s\s+fine\b|works\s+(?:better|for\s+us)\b)", re.I
)
_NOT_BUT = re.compile(r"\bnot\s*$", re.I)
_BUT_BETWEEN = re.compile(r"^\s*,?\s*but\s*$", re.I)

# What may stand between a cue and the value it cues: at most a few words, in the same sentence (lower-cased
# text, searched on the window before the value).
_WITHIN_3_WORDS = r"(?:[^\w.!?;\n]+\w+){0,3}[^\w.!?;\n]*$"
_WITHIN_4_WORDS = r"(?:[^\w.!?;\n]+\w+){0,4}[^\w.!?;\n]*$"

# A clock time of something other than the event: the venue's hours ("the pavilion opens at 10", "doors at
# 5:30", "kicks us out at 10", "last booking 8pm"), a call or a flight, guests arriving before the meal, a late
# arrival, another part of the day (a ceremony, drinks, a kickoff, fireworks, the baby's bedtime, what the
# invitation says), or last year's party. Within a few words of the time, in its own sentence; lower-cased
# text. The chef's own arrival is no other clock: asked "can the chef arrive by 4:30?", the writers of the
# hand-written sets label that time.
_ANOTHER_CLOCKS_CUE = re.compile(
    r"(?:\b(?:clos(?:e|es|ed|ing)|opens?|opening|doors|kicks?\s+(?:us|everyone|people)\s+out|vacate|check[\s-]?in|check[\s-]?out"
    r"|ends?|ending|over\s+by|out\s+by|wraps?\s+up|finish(?:es)?|available\s+from|free\s+(?:after|from)|call(?:ed)?|phoned?"
    r"|emails?|emailed|texted|voicemail|fly(?:ing)?\s+in|flights?|lands?|landing|late|work"
    r"|ceremony|rehearsal|cocktails?|drinks|puja|kick-?off|fireworks|pick\s?up|sitter|nap|bed(?:time)?"
    r"|goes\s+down|last\s+booking|reserved|(?:invite|invitation|flyer)\s+says)\b"
    r"|\b(?:guests|people|everyone|folks|ppl|they)\s+(?:are\s+|will\s+|should\s+|start\s+)?"
    r"(?:arriv\w*|come|coming|show(?:ing)?\s+up|get(?:ting)?\s+(?:here|there)))"
    + _WITHIN_3_WORDS
    + r"|\blast\s+(?:year|time)\b[^.!?;\n]{0,40}$"
)
# A time cued as a call back or a wait is never the event's, even alone: "call me after 5pm", "I called at 10am",
# "waiting since 2pm", "get back to me by 3".
_A_CALLS_CUE = re.compile(
    r"\b(?:called|(?:tried|been|kept)\s+calling|call\s+(?:me|us)(?:\s+back)?|phoned|texted|emailed|voicemail|since"
    r"|(?:get|got|getting)\s+back\s+to\s+(?:me|us)|hear\s+back)\b" + _WITHIN_4_WORDS
)
# A date that is another's: a deadline ("will know by the 10th", "needs a COI from you by the 1st"), a quote
# or a call ("quoted me ... on the phone on Tuesday"), or a journey ("flying in on the 2nd", "check-in is 4pm
# on Friday the 11th").
_A_DEADLINE_CUE = re.compile(
    r"\b(?:know|hear|confirm\w*|reply|respond|answer|decide|pay|paid|payment|deposit|send|sent|need|needs|coi)\b"
    r"(?:[^\w.!?;\n]+\w+){0,5}?[^\w.!?;\n]+by\s+$"
    r"|\b(?:quoted|phone)\b(?:[^\w.!?;\n]+\w+){0,5}?[^\w.!?;\n]+on\s+$"
)
# "call me back about the 6th": what the call is about is the event.
_ABOUT_BEFORE = re.compile(r"\b(?:about|regarding|re:?|for)\s+$")
_ANOTHER_DAYS_CUE = re.compile(
    r"\b(?:fly(?:ing)?\s+in|flights?|lands?|landing|check[\s-]?in|check[\s-]?out|arriv\w*|leav\w*)\b"
    + _WITHIN_3_WORDS
    + r"|\blast\s+(?:year|time)\b[^.!?;,\n]{0,40}$"
)
# "We had you guys on 8/12 last year", "married on 6/6 last year": a past date, told by what follows it.
_PAST_AFTER = re.compile(r"[^\w.!?;\n]*(?:\w+[^\w.!?;\n]+){0,2}?last\s+(?:year|time|summer|spring|fall|autumn|winter)\b")
# When several times remain, one cued as the meal's ("dinner is at 8", "we eat at 7", "the chef cooking from
# 19:00", "food out at like 6") is the event's; failing that, one cued as a start ("start at 6:45", "Start is 6").
# Not when the message asks about the chef's arrival ("Can the chef arrive by 4:30? ... eat around 6"): the
# time asked about is the answer.
_MEAL_CUE = re.compile(
    r"\b(?:eat|eating|food|dinner|lunch|brunch|supper|meal|serve|served|serving|cook|cooks|cooking|grill\w*"
    r"|hibachi|stations?)\b" + _WITHIN_3_WORDS
)
_START_CUE = re.compile(r"\b(?:start\w*|begin\w*)\b" + _WITHIN_3_WORDS)
_ARRIVAL_CUE = re.compile(r"\barriv\w*\b" + _WITHIN_3_WORDS)
# The end of a span ("from 4:00 PM until 9:00 PM", "6-9") is not when the event starts; in a change ("move it
# from 6pm to 5:30") it is the new start.
_SPAN_END_CUE = re.compile(r"\d\s*(?:[ap]\.?\s?m\b\.?)?\s*(?:until|till|til|to|-|–)\s*$")
_CLOCK_CUE_WINDOW = 60


def _the_events_times(lower: str, found: list[Entity]) -> list[Entity]:
    """Of several times, those that may be the event's: a call's time is dropped; a time cued as another
    clock's is dropped, unless every time is (a lone "the venue closes at 10" may be all a scheduling
    question gives)."""
    found = [entity for entity in found if not _A_CALLS_CUE.search(_before(lower, entity))]
    if len(found) < 2:
        return found
    events = []
    for entity in found:
        window_start = max(0, entity.start - _CLOCK_CUE_WINDOW)
        before = _before(lower, entity)
        if _ANOTHER_CLOCKS_CUE.search(before):
            continue
        span_end = _SPAN_END_CUE.search(before)
        if span_end:
            # Back from the span's end to where its first time starts; the verb of a change may sit a long
            # clause before that, so the search reaches twice the window back from the time.
            reach = max(0, entity.start - 2 * _CLOCK_CUE_WINDOW)
            span_start = window_start + span_end.start()
            while span_start > reach and lower[span_start - 1] in "0123456789:.":
                span_start -= 1
            if not _a_change_leads_to(lower, span_start, span_start - reach):
                continue
        events.append(entity)
    return events or found


def _preferred_times(lower: str, events: list[Entity]) -> list[Entity]:
    """Of several possible times, those cued as the meal's, else those cued as the start; none when the
    message asks about the chef's arrival."""
    if len(events) < 2:
        return []
    if "?" in lower and any(_ARRIVAL_CUE.search(_before(lower, entity)) for entity in events):
        return []
    for cue in (_MEAL_CUE, _START_CUE):
        cued = [entity for entity in events if cue.search(_before(lower, entity))]
        if cued:
            return cued
    return []


def _the_events_dates(lower: str, found: list[Entity]) -> list[Entity]:
    """Of the dates, those that may be the event's: a call's or a deadline's is dropped; a journey's or a past
    party's is dropped when another remains."""
    found = [entity for entity in found if not _a_calls_or_deadlines(_before(lower, entity))]
    if len(found) < 2:
        return found
    events = [
        entity
        for entity in found
        if not _ANOTHER_DAYS_CUE.search(_before(lower, entity))
        and not _PAST_AFTER.match(lower, entity.end, entity.end + _CLOCK_CUE_WINDOW)
    ]
    return events or found


def _a_calls_or_deadlines(before: str) -> bool:
    """Whether the text before a date makes it a call's or a deadline's, not what the call is about."""
    if _ABOUT_BEFORE.search(before):
        return False
    return bool(_A_CALLS_CUE.search(before) or _A_DEADLINE_CUE.search(before))


def _before(lower: str, entity: Entity) -> str:
    return lower[max(0, entity.start - _CLOCK_CUE_WINDOW) : entity.start]


def _a_change_leads_to(text: str, span_start: int, chars: int) -> bool:
    """Whether the `chars` before a "from X to Y" make it a change ("move it from 6pm to 7") and not a span."""
    return bool(_CHANGE_VERB_BEFORE.search(text[max(0, span_start - chars) : span_start]))


def _newest(text: str, found: list[Entity]) -> Entity:
    """The value that counts: in "move it from 6pm to 5:30", "6pm, actually make it 7" or "the 11th, I meant
    the 12th" the later one; in "7 instead of 6" and in a span ("from 12:30 to 2 p.m.") the earlier one;
    otherwise the first mentioned."""
    current = found[0]
    for earlier, later in zip(found, found[1:], strict=False):
        between = text[earlier.end : later.start]
        if _INSTEAD_OF.match(between):
            return earlier
        if (
            _INSTEAD_OF_BEFORE.search(text[max(0, earlier.start - 40) : earlier.start])
            or _INSTEAD_AFTER.match(text[later.end : later.end + 30])
            or (_NOT_BUT.search(text[max(0, earlier.start - 8) : earlier.start]) and _BUT_BETWEEN.match(between))
        ):
            current = later
            continue
        if _SPAN_TO.match(between) and not _a_change_leads_to(text, earlier.start, 80):
            continue
        # The cue sits just before the new value: only the tail is searched, so a message with a thousand
        # mentions costs a thousand short searches.
        if _CHANGE_BETWEEN.match(between) or _CHANGE_CUE_AT_END.search(between[-_CUE_TAIL_CHARS:]):
            current = later
    return current
