"""Party-size slot rule: head counts ("30 people", "party of 8", "a dozen", "30 adults and 10 kids").

Numbers that are prices, addresses, quantities of food, durations, ages or phone numbers are not counts;
the caller blocks spans already claimed by prices, phones, dates and times before this rule runs.
"""

from __future__ import annotations

import re

from services.common.lowercase import lower_aligned
from services.nlp.entities import Claimed, Entity, has_any
from services.nlp.numerals import NUMBER_PATTERN, TENS, UNITS, parse_number

N = NUMBER_PATTERN
_PEOPLE = (
    r"(?:people|ppl|peeps|persons?|guests?|adults?|grown[\s-]?ups|pax|heads|folks|diners|attendees|of\s+us"
    r"|kids|children|child|teens|teenagers|seniors|members|covers|individuals|souls|humans|employees|coworkers"
    r"|co-workers|friends|family\s+members|people\s+total|total\s+guests|men|women|ladies|guys|girls|boys|dudes"
    r"|residents|directors|participants|relatives|cousins|neighbou?rs|students|players|colleagues|executives"
    r"|volunteers|littles|little\s+ones|staff|teachers|classmates|campers|buddies|pals|personnes|personen|persone"
    r"|parents|spouses|partners|husbands|wives|doctors|coaches|grandkids|grandchildren|grandparents|moms|dads|chaperones)"
)
_KIDS = r"(?:kids?|kiddos?|kiddies|childrens?|child|teens|teenagers|little\s+ones|littles|lil\s+ones|toddlers|babies|infants|minors)"
_ADULTS = r"(?:adults?|grown[\s-]?ups|people|guests|men|women|parents|seniors)"
# "14 adults 4 kids", "8 adults n 6 kids", "10 adults and like 5 littles": the joint between the two counts.
# Each optional word carries its own trailing whitespace: side-by-side `\s*` runs would let `re` try every split
# of a long run of spaces between them.
_JOINT = r"\s*(?:(?:,|and|&|\+|plus|with|n\b)\s*)?(?:like\s+|about\s+|around\s+|maybe\s+|roughly\s+)?"
_ISH = r"(?:-?ish)?"
_NOT_A_CLOCK = r"(?!\s*(?:[:.]\d|am\b|pm\b|a\.m|p\.m|o'?clock))"
_ME = r"(?:me|myself|i)"
_COMPANIONS = (
    r"(?:friends?|buddies|pals|others|other\s+people|guests|coworkers|co-workers|colleagues|cousins|brothers"
    r"|sisters|siblings|kids|children|family\s+members|relatives|teammates|people)"
)
# "5 friends and I": the writer comes on top. Not after "people"/"guests"/"others", where the writer is
# usually counted already ("we're only 6 people and I don't want to...").
_N_AND_ME_COMPANIONS = (
    r"(?:friends?|buddies|pals|coworkers|co-workers|colleagues|cousins|brothers|sisters|siblings|kids|children"
    r"|family\s+members|relatives|teammates)"
)

# Each entry: (name, regex, confidence). Earlier entries win where spans overlap.
# No pattern lets two whitespace runs meet (`\s*[.!?]*\s*`, `size\s+(?:of)?\s*`): `re` would try every split of
# a long run of spaces between them, quadratic or worse in its length on a 16,000-character message.
_RULES: list[tuple[str, re.Pattern[str], float]] = [
    (
        "from_to",
        # Not a time moved: "push the start from 5 to 6", "from 6pm to 7".
        re.compile(
            rf"(?<!start\s)(?<!time\s)(?<!dinner\s)(?<!arrival\s)\bfrom\s+({N}){_NOT_A_CLOCK}"
            rf"\s+(?:{_PEOPLE}\s+)?(?:to|->|→)\s+({N})\b{_NOT_A_CLOCK}(?:\s+{_PEOPLE})?"
        ),
        0.9,
    ),
    # A stated total beats the increments around it: "3 more ppl coming so 11 total", "Add 5 more. Total 25."
    (
        "total",
        re.compile(
            rf"\b({N})\s+(?:{_PEOPLE}\s+)?(?:total|in\s+total|altogether|all\s+together|all\s+in)\b"
            rf"|\b(?:makes?|making|bring(?:s|ing)?)\s+(?:us|our\s+total)\s+(?:to\s+)?({N})\b(?!\s*(?:[:.]\d|am\b|pm\b|o'?clock|%|\$))"
            rf"|\b(?:total|headcount|head\s+count|guest\s+count)\s+to\s+({N})\b(?!\s*(?:[:.]\d|am\b|pm\b|o'?clock|%|\$))"
            rf"|\btotal(?:\s+(?:headcount|head\s+count|guest\s+count|count|guests|people))?\s*(?:is\s+|of\s+|now\s+|=\s*|:\s*)*"
            rf"(?:now\s+)?({N})\b(?!\s*(?:[:.]\d|am\b|pm\b|a\.m|p\.m|o'?clock|hours?|hrs?|minutes?|mins?|dollars|bucks|%|\$|/|-\d))"
            rf"(?!\s+(?:{_ADULTS}|{_KIDS})\b{_JOINT}\d)"
        ),
        0.97,
    ),
    # "we had 40 last time, this year 25", "this year we anticipate approximately thirty-five"
    (
        "this_year",
        re.compile(
            rf"\bthis\s+(?:year|time)\b[^.!?;\d]{{0,40}}?\b({N})\b{_NOT_A_CLOCK}"
            rf"(?!\s*(?:hours?|hrs?|minutes?|mins?|days?|weeks?|months?|years?|dollars|bucks|%|st\b|nd\b|rd\b|th\b|/|-\d|\$))"
        ),
        0.9,
    ),
    # A correction or an update that states the new count: "so 18 now", "so make that 22", "so it's 17 now",
    # "we're at 12 now instead of 10", "Fifteen became seventeen", "plus partners, so 36".
    (
        "now_n",
        re.compile(
            rf"\b(?:so|which\s+makes(?:\s+it)?|that\s+makes(?:\s+it)?|making\s+it)\s+(?:it'?s\s+|make\s+(?:it|that)\s+"
            rf"|we'?re\s+(?:at\s+)?|that'?s\s+|~\s*|about\s+|like\s+)?({N})\b"
            rf"(?=\s*(?:now\b|total\b|in\s+total|[.,!;)]|$))"
            rf"|\b(?:we'?re|we\s+are)\s+(?:now\s+)?at\s+({N})\b(?=\s*(?:now\b|total\b|in\s+total|[.,!;)]|$))"
            rf"|\b(?:actually|now)\s+({N})\b(?=\s+(?:confirmed|people|guests|total)\b)"
            rf"|\bbecame\s+({N})\b{_NOT_A_CLOCK}(?!\s*(?:hours?|hrs?|minutes?|mins?|days?|weeks?|dollars|bucks|%|\$))"
        ),
        0.95,
    ),
    # A label and its count, as forms and terse emails write them: "People: 8", "Guests: approximately 45",
    # "Attendance: 60-65" (plan for the larger), "Attendance 22".
    (
        "labelled",
        re.compile(
            rf"\b(?:(?:people|guests|pax|persons|attendees|no\.?\s+of\s+guests|number\s+of\s+(?:guests|people))\s*[:=]"
            rf"|(?:attendance|attendees|guest\s+count|headcount)\s*[:=]?)\s*(?:approximately\s+|approx\.?\s+|about\s+"
            rf"|around\s+|roughly\s+|~\s*)?(?:{N}\s*(?:-|–|to)\s*)?({N})\b"
            rf"(?!\s*(?:[:.]\d|am\b|pm\b|a\.m|p\.m|o'?clock|hours?|hrs?|minutes?|mins?|dollars|bucks|%|st\b|nd\b|rd\b|th\b|/|-\d|\$))"
        ),
        0.9,
    ),
    # "probably 25 this time vs 19 last year"; not "round two this year".
    ("n_this_time", re.compile(rf"(?<!round\s)\b({N})\s+this\s+(?:year|time)\b"), 0.9),
    # "two tables of 8", "three tables of 10 rather than two"
    ("tables", re.compile(rf"\b({N})\s+tables\s+of\s+({N})\b"), 0.9),
    # A count changed to a new one: "our list grew to 40", "we're down to 12", "reduce the guest count to
    # fifty-two", "adjust the total headcount to thirty-four".
    (
        "changed_to",
        re.compile(
            rf"\b(?:(?:grew|grown|growing|gone\s+up|went\s+up|risen|rose|down|dropped|dropping|drops|increased?|decreased?"
            rf"|reduced?|raised?|lowered|cut|expanded|shrunk|shrank|bumped|bump\s+(?:it|us)(?:\s+up)?)"
            rf"|(?:change|update|adjust|increase|decrease|reduce|raise|lower|bump|move|take)d?\s+(?:the\s+|our\s+|my\s+)?"
            rf"(?:total\s+)?(?:guest\s+count|head\s*count|count|number\s+of\s+(?:guests|people)|party\s+size|guest\s+list|party|group))"
            rf"\s+(?:back\s+)?to\s+(?:about\s+|around\s+|roughly\s+|just\s+|only\s+)?({N})\b"
            rf"(?!\s*(?:[:.]\d|am\b|pm\b|a\.m|p\.m|o'?clock|hours?|hrs?|minutes?|mins?|days?|weeks?|dollars|bucks|%|\$|/|-\d"
            rf"|st\b|nd\b|rd\b|th\b))"
        ),
        0.95,
    ),
    # "12-15 ppl", "30 to 35 guests", "between 28 and 32 people": plan for the larger.
    (
        "range",
        re.compile(
            rf"(?<![\d$£€#.,:/])\b(?:between\s+)?({N})\s*(?:-|–|to|or|and)\s*({N}){_ISH}\s*(?:{_PEOPLE}|seats|spots)\b"
        ),
        0.9,
    ),
    (
        "adults_kids",
        re.compile(rf"\b({N}){_ISH}\s+{_ADULTS}{_JOINT}({N}){_ISH}\s+{_KIDS}\b"),
        0.85,
    ),
    (
        "kids_adults",
        re.compile(rf"\b({N}){_ISH}\s+{_KIDS}{_JOINT}({N}){_ISH}\s+{_ADULTS}\b"),
        0.85,
    ),
    # Two groups added up: "16 girls plus 4 parents", "18 staff plus the two doctors", "24 kids. Plus maybe 5
    # parents".
    (
        "plus_group",
        re.compile(
            rf"\b({N})\s+(?:(?!dozen|hundred)[a-z]+\s+)?{_PEOPLE}[.,]?\s*(?:plus|\+|and)\s*(?:maybe\s+|about\s+|around\s+|like\s+|another\s+)?"
            rf"(?:the\s+|our\s+|their\s+)?({N})\s+(?:(?!dozen|hundred)[a-z]+\s+)?{_PEOPLE}\b"
        ),
        0.9,
    ),
    # "my husband and I and our 3 kids": the couple on top of the count.
    (
        "couple_and_n",
        re.compile(
            r"\b(?:my\s+(?:wife|husband|partner|spouse|hubby|bf|gf|boyfriend|girlfriend|fianc[ée]e?)\s+and\s+(?:i|me)"
            r"|(?:i|me)\s+and\s+my\s+(?:wife|husband|partner|spouse|hubby|bf|gf|boyfriend|girlfriend|fianc[ée]e?))"
            rf"(?:,?\s+(?:and|plus|\+|with))\s+(?:our|my|the)\s+({N})\s+(?:kids|children|kiddos|boys|girls|sons|daughters"
            r"|friends|guests)\b"
        ),
        0.85,
    ),
    (
        "me_and_n",
        re.compile(
            rf"\b{_ME}\s+(?:and|&|\+|plus)\s+(?:my\s+|our\s+)?({N})\s+(?:other\s+)?{_COMPANIONS}\b"
            rf"|\b(?:me|myself)\s*(?:\+|plus)\s*({N})\b(?=\s*(?:[,.!?;)]|$|\s+(?:more|others?|of\s+(?:the|my|our)|for|coming|joining|at|on)\b))"
        ),
        0.8,
    ),
    # The one celebrated and her friends: "wants hibachi for her and 11 of her friends".
    (
        "honoree_and_n",
        re.compile(rf"\b(?:her|him)\s+and\s+({N})\s+(?:of\s+(?:her|his)\s+)?(?:friends|buddies|pals|classmates|teammates)\b"),
        0.8,
    ),
    (
        "n_and_me",
        re.compile(rf"\b({N})\s+(?:{_N_AND_ME_COMPANIONS}\s+)?(?:and|&|plus)\s+(?:me|myself|i)\b(?!'|’)"),
        0.75,
    ),
    (
        "n_people",
        re.compile(
            rf"(?<![\d$£€#.,:/-])\b({N}){_ISH}\+?\s*(?:-\s*)?(?:hungry\s+|total\s+|more\s+|other\s+|adult\s+|grown\s+)?"
            rf"(?:{_PEOPLE}|seats|personas|spots|places|chairs)\b"
            r"(?!\s+(?:is|are|has|have|was|were)\s+(?:a\b|an\b|vegan|vegetarian|veggie|allergic|in\b|gluten|lactose|diabetic"
            r"|pregnant|disabled|sick|coming\s+late|running\s+late|kosher|halal))"
            # Not a part of the party ("2 guests have nut allergies", "3 guests can't have egg"), not a rule
            # ("the 50 person minimum"), not a past party ("we had 40 people last summer").
            r"(?!\s+(?:have|has|can'?t|cannot|don'?t|won'?t|need|needs)\s+(?:\w+\s+){0,2}(?:nut|peanut|shellfish|gluten|dairy"
            r"|eggs?\b|allerg|vegan|vegetarian|kosher|halal|lactose))"
            r"(?!\s+(?:minimum|min\b|maximum|max\b|limit|cap\b))"
            r"(?!\s+last\s+(?:time|year|summer|spring|fall|autumn|winter|month|week|weekend))"
        ),
        0.95,
    ),
    (
        "n_will_be",
        re.compile(
            rf"(?:^|\b(?:all|us)\s+)({N})\b(?=\s+(?:will\s+be|are\s+coming|coming|joining|attending|in\s+total|total|seated|i\s+guess))"
            rf"|(?<![\d$£€#.,:/-])\b({N})\s+[a-z]+\s+(?:will\s+(?:attend|be\s+attending|be\s+joining|join)|are\s+(?:attending|expected))\b"
            rf"|\b(?:all|for\s+us)\s+({N})\b(?!\s*(?:[:.]\d|am\b|pm\b|o'?clock))"
        ),
        0.85,
    ),
    (
        "party_of",
        re.compile(
            rf"\b(?:party|group|table|t\s?able|crowd|headcount|head\s+count|guest\s+count|count|reservation|booking|dinner|event"
            rf"|family|band|bunch|team|masses|attendance)"
            rf"(?:\s+(?:of|for|is\s+now|is\s+still|is|now|will\s+be|remains(?:\s+at)?|unchanged\s+at|stays(?:\s+at)?|=|:|size\s+(?:of|is)|size(?=\s))|\s*[:=])\s*(?:about\s+|around\s+|roughly\s+|maybe\s+|approx\.?\s+|like\s+|~)?({N})\b"
            rf"(?!\s*(?:[:.]\d|am\b|pm\b|a\.m|p\.m|o'?clock|hours?|hrs?|minutes?|mins?|dollars|bucks|%|st\b|nd\b|rd\b|th\b|/|-\d))"
        ),
        0.9,
    ),
    (
        "we_are",
        re.compile(
            rf"\b(?:we(?:'re|\s+are|\s+will\s+be|'ll\s+be|'d\s+be|\s+would\s+be|\s+r)(?:\s+(?:gonna|going\s+to)\s+be)?|put\s+(?:it|us)\s+down\s+(?:as|for)|there(?:'ll|\s+will)\s+be|there\s+are|expecting"
            rf"|total\s+of|cooking\s+for|feeding|serve|serving|seat|seats|seating|invited|inviting|headcount\s+is)"
            rf"\s+(?:about\s+|around\s+|roughly\s+|maybe\s+|approximately\s+|like\s+|a\s+total\s+of\s+|just\s+|only\s+)?"
            rf"(?:{N}\s*(?:-|–|to)\s*(?={N}{_ISH}\b(?!\s*(?:am\b|pm\b|[:.]\d))))?({N}){_ISH}\b"
            rf"(?!\s*(?:[:.]\d|am\b|pm\b|a\.m|p\.m|o'?clock|hours?|hrs?|minutes?|mins?|days?|weeks?|dollars|bucks|%|st\b|nd\b|rd\b|th\b"
            rf"|miles?|mi\b|km|kilomet|feet|ft\b|floors?|stories"
            rf"|proteins?|courses?|items?|dishes|orders?|trays?|fewer|less|more|extra|additional|/|-\d))"
        ),
        0.85,
    ),
    (
        "for_n",
        re.compile(
            rf"\b(?:for|4)\s+(?:about\s+|around\s+|roughly\s+|maybe\s+|approx\.?\s+|like\s+|~)?({N})\b"
            rf"(?!\s*(?:[:.,]?\d|am\b|pm\b|a\.m|p\.m|o'?clock|hours?|hrs?|minutes?|mins?|days?|weeks?|months?|years?|yrs?|nights?"
            rf"|dollars|bucks|%|st\b|nd\b|rd\b|th\b|/|-|\$|proteins?|courses?|items?|dishes|orders?|trays?|pieces?|pcs|chefs?|cooks?|grills?"
            rf"|of\s+(?:the|those|these|them|my|our)|in\s+the\s+(?:morning|afternoon|evening)|at\s+night|tonight|ish"
            rf"|(?:a\s+)?(?:head|person|pp|each|per))|\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b)"
        ),
        0.8,
    ),
    (
        "dozen",
        re.compile(
            r"\b((?:a|one|two|three|half\s+a)\s+dozen)\b(?!\s+(?:gyoza|pieces|eggs|rolls|shrimp|wings))"
        ),
        0.85,
    ),
    (
        "solo",
        re.compile(
            r"\b(?:just\s+(?:me|myself)|solo(?:\s+diner)?|table\s+for\s+one|only\s+me|by\s+myself|party\s+of\s+one)\b"
            r"(?!\s*(?:,|and\b|&|\+|plus\b|with\b)\s*\w)"
        ),
        0.85,
    ),
    (
        "couple",
        re.compile(
            r"\b(?:(?:me|myself)\s+and\s+(?:my\s+(?:wife|husband|partner|girlfriend|boyfriend|gf|bf|fiance|fiancee|date|friend|mom|mother|dad|father|son|daughter|boss)|(?:my\s+)?(?:mom|mum|dad|mother|father)\b)"
            r"|my\s+(?:wife|husband|partner|girlfriend|boyfriend)\s+and\s+(?:i|me|myself)\b(?!\s*(?:,|and|&))(?!'|’))\b(?!\s*(?:,|and|&)\s*\w)"
            r"|\bjust\s+(?:us\s+two|the\s+two\s+of\s+us)\b"
        ),
        0.75,
    ),
]
_BARE = re.compile(
    rf"^\s*(?:(?:we\s+(?:are|will\s+be|'ll\s+be)|it'?s|it\s+will\s+be|about|around|maybe|probably|roughly|just|only|for)\s+)?"
    rf"({N})(?:\s+(?:of\s+us|total|in\s+total|please|pls|people|persons|guests))?\s*(?:[.!?]+\s*)?$"
)
_MAX_PLAUSIBLE = 500


_GATE = re.compile(
    r"\d|" + "|".join(tuple(UNITS) + tuple(TENS) + ("dozen", "hundred", "solo", "me", "myself", "and i", "for one"))
)
# Per rule, words its match must contain; rules whose words are absent are skipped without running.
_RULE_GATES: dict[str, re.Pattern[str] | tuple[str, ...]] = {
    "total": ("total", "altogether", "together", "all in", "make", "bring", "count"),
    "changed_to": re.compile(r"\bto\b"),
    "range": re.compile(r"\d\s*[-–]|\b(?:to|or|and)\b"),
    "from_to": ("from",),
    "tables": ("tables of",),
    "n_this_time": ("this year", "this time"),
    "now_n": re.compile(r"\bso\s|makes|making|we'?re|we\s+are|became|actually|now"),
    "labelled": ("people", "guests", "pax", "persons", "attend", "count", "number of"),
    "plus_group": re.compile(r"(?:plus|\+|\band)\s*(?:maybe\s+|about\s+|around\s+|like\s+|another\s+)?(?:the\s+|our\s+|their\s+)?[\dotfsen]"),
    "this_year": ("this year", "this time"),
    "adults_kids": ("kid", "child", "teen", "little", "lil", "toddler", "bab", "infant", "minor"),
    "kids_adults": ("adult", "grown", "people", "guest", "men", "parent", "senior"),
    "me_and_n": re.compile(r"\b(?:me|myself|i)\b"),
    "honoree_and_n": ("her and", "him and"),
    "n_and_me": re.compile(r"\b(?:me|myself|i)\b"),
    "couple_and_n": ("and i", "and me", "i and my", "me and my"),
    "n_people": tuple(
        "pe ppl pers guest adult grown pax head folk diner attend of us kid child teen senior member cover individ"
        " seat spot place chair soul human employ work friend family men ladies guys girls boys dude resident"
        " director particip relative cousin neighb student player colleag execut volunt little staff teacher"
        " classmate camper budd pal".split(" ")
    ),
    "party_of": tuple(
        "party group able crowd count reserv booking dinner event family band bunch team masses attendance".split()
    ),
    # A superset of what each alternative of the rule needs: a count opening the message and followed by
    # "will be"/"coming"/..., "all N"/"us N", or "N <word> will attend"/"are expected".
    "n_will_be": re.compile(
        r"^\S+(?:\s+\S+){0,5}?\s+(?:will\s+be|are\s+coming|coming|joining|attending|in\s+total|total|seated|i\s+guess)\b"
        r"|\b(?:all|us)\s|will\s+(?:attend|be\s+attending|be\s+joining|join)\b|are\s+(?:attending|expected)\b"
    ),
    "we_are": ("we", "there", "expect", "total", "cook", "feed", "serv", "seat", "invit", "headcount", "put"),
    "for_n": re.compile(r"\b(?:for|4)\b"),
    "dozen": ("dozen",),
    "solo": ("solo", "just", "only", "myself", "one"),
    "couple": re.compile(
        r"wife|husband|partner|friend|gf|bf|fianc|date|mom|mother|dad|father|son\b|daughter|boss|two"
    ),
}


# A count in the same clause after "last year"/"last time" is a past party's.
_LAST_TIME = re.compile(r"\blast\s+(?:year|time|summer|spring|fall|autumn|winter)\b[^.!?;,\n]*$")
_LAST_TIME_WINDOW = 40
_LAST_TIME_AFTER = re.compile(r"[^\w.!?;\n]*(?:[a-z]+\s+)?last\s+(?:year|time|summer|spring|fall|autumn|winter)\b")
_FOR_PREFIX = re.compile(r"^(?:for|4)\s+", re.I)
_ONE_THING = re.compile(
    r"\s+(?:grill|chef|cook|station|thing|hour|night|day|time|minute|second|week|event|party|of|another|big"
    r"|large|small|long|last|whole)\b"
)


def find_party_size(
    text: str,
    *,
    blocked: list[tuple[int, int]] | None = None,
    expect_count: bool = False,
    lower: str | None = None,
) -> Entity | None:
    """The head count the message states; for a change ("from 20 to 26") the new value.

    Patterns run on `lower` (the text lower-cased, offsets kept); surfaces are cut from the text as written."""
    taken = Claimed(blocked or ())
    if lower is None:
        lower = lower_aligned(text)
    if not _GATE.search(lower):
        return None
    if expect_count:
        m = _BARE.match(lower)
        if m:
            n = parse_number(m.group(1))
            if n is not None and 0 < n <= _MAX_PLAUSIBLE:
                return Entity(text[m.start(1) : m.end(1)], n, 0.85, False, m.start(1), m.end(1))
    candidates: list[Entity] = []
    for name, pattern, conf in _RULES:
        gate = _RULE_GATES[name]
        if not (has_any(lower, gate) if isinstance(gate, tuple) else gate.search(lower)):
            continue
        for m in pattern.finditer(lower):
            start, end = m.span()
            if taken.overlaps(start, end):
                continue
            value = _value(name, m)
            if value is None or value <= 0:
                continue
            if name == "for_n" and value == 1 and _ONE_THING.match(lower, m.end()):
                # "too many for one grill", "room for one more": one of a thing, not a party of one.
                continue
            confirm = (
                name in ("adults_kids", "kids_adults", "plus_group", "couple_and_n", "me_and_n", "honoree_and_n", "n_and_me", "couple")
                or value > _MAX_PLAUSIBLE
            )
            c = conf * (0.6 if value > _MAX_PLAUSIBLE else 1.0)
            surface = text[start:end].strip()
            if name == "for_n":
                surface = _FOR_PREFIX.sub("", surface)
                start = end - len(surface)
            elif name in ("party_of", "we_are", "changed_to", "total", "this_year", "now_n", "labelled"):
                group = _first_group(m)
                start, end = m.start(group), m.end(group)
                surface = text[start:end]
            taken.add(start, end)
            if _LAST_TIME.search(lower, max(0, start - _LAST_TIME_WINDOW), start) or _LAST_TIME_AFTER.match(lower, end):
                continue  # "last year we had fifty guests", "vs 19 last year": a past party, no party size
            candidates.append(Entity(surface, value, c, confirm, start, end))
    if not candidates:
        return None
    # A later, explicit statement usually corrects an earlier one ("20, actually make it 26").
    best = max(candidates, key=lambda e: (e.confidence >= 0.85, e.start))
    return best


def _first_group(m: re.Match[str]) -> int:
    """The number of the first group that took part in the match: rules with alternatives put the count in
    a different group in each."""
    return next(index for index, group in enumerate(m.groups(), 1) if group is not None)


def _value(name: str, m: re.Match[str]) -> int | None:
    if name == "from_to":
        return parse_number(m.group(2))
    if name == "tables":
        a, b = parse_number(m.group(1)), parse_number(m.group(2))
        return None if a is None or b is None else a * b
    if name == "range":
        a, b = parse_number(m.group(1)), parse_number(m.group(2))
        return None if a is None or b is None or b <= a else b
    if name in ("adults_kids", "kids_adults", "plus_group"):
        a, b = parse_number(m.group(1)), parse_number(m.group(2))
        return None if a is None or b is None else a + b
    if name == "couple_and_n":
        n = parse_number(m.group(1))
        return None if n is None else n + 2
    if name in ("me_and_n", "n_and_me", "honoree_and_n"):
        n = parse_number(m.group(_first_group(m)))
        return None if n is None else n + 1
    if name == "solo":
        return 1
    if name == "couple":
        return 2
    return parse_number(m.group(_first_group(m)))
