from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.vocabulary import load_upsell_menu
from services.common.corrections import is_correction
from services.nlp import pii
from services.nlp.upsells import UpsellCatalog
from shared import pii as shared_pii
from shared.pii import scrub_pii


def test_scrub_masks_phones_and_emails() -> None:
    text = "call me at (555) 123-4567 or 555.987.6543, or mail dana.lee+party@example.co.uk"
    out = scrub_pii(text)
    assert "555" not in out and "example" not in out
    assert out.count("[phone]") == 2 and out.count("[email]") == 1
    assert pii.detect(text) == {"phone": True, "email": True}


def test_detect_flags_only() -> None:
    assert pii.detect("my cell is 555-123-4567") == {"phone": True, "email": False}
    assert pii.detect("party of 30 on 12/31/2025 for $1,950") == {"phone": False, "email": False}


def test_upsell_mentions_and_suggestions() -> None:
    cat = UpsellCatalog.load()
    assert cat.mentioned("can we add gyoza and a lobster tail? also 3rd protein") == [
        "gyoza",
        "lobster",
        "third_protein",
    ]
    picks = cat.suggest(
        intent="booking_inquiry", tone="warm", party_size=30, mentioned=["gyoza"], text="birthday"
    )
    assert "gyoza" not in picks and picks
    assert cat.suggest(intent="complaint", tone="direct", party_size=30, mentioned=[], text="late chef") == []


def test_international_numbers_are_flagged_and_dates_with_times_are_not() -> None:
    assert pii.detect("reach me on +44 20 7946 0958") == {"phone": True, "email": False}
    # A date and a time written together look like a long digit run: logs mask it, the detector does not,
    # or its span would hide the date and time from the slot rules.
    assert pii.phone_spans("can we do 2026-11-29 18:00?") == []
    assert scrub_pii("can we do 2026-11-29 18:00?") == "can we do [phone]:00?"


def test_the_catalog_is_the_one_upsell_menu() -> None:
    menu = load_upsell_menu()
    catalog = UpsellCatalog.load()
    assert set(catalog.items) == {item.id for item in menu.items} and catalog.version == menu.version
    assert menu.prices()["gyoza"] == 10.0  # seed 000: 30 guests with gyoza come to $1,950 at $55 a head


def test_corrections() -> None:
    assert is_correction("actually make it 25")
    assert is_correction("sorry, I meant Sunday")
    assert not is_correction("we want hibachi for 25 people")


def test_lower_aligned_keeps_offsets() -> None:
    from services.common.lowercase import lower_aligned
    from services.nlp.entities import has_any

    text = "İstanbul trip, Party of 8"
    low = lower_aligned(text)
    assert len(low) == len(text) and low.endswith("party of 8")
    assert lower_aligned("Party OF 8") == "party of 8"
    assert has_any("party of 8", ("xyz", "of")) and not has_any("party", ("xyz",))


def test_phone_gate_keeps_every_form() -> None:
    for t in ("(555) 123-4567", "555.987.6543", "+1 555 123 4567", "5551234567"):
        assert pii.detect(f"call {t}")["phone"], t
    assert not pii.detect("party of 30 at 7pm")["phone"]


_PHONEISH = st.text(alphabet="0123456789 +-.()@abc.com\u0661\u0662\uff13x", max_size=60)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_PHONEISH, st.text(max_size=80)))
def test_the_scrubbers_cheap_prechecks_skip_only_texts_the_patterns_leave_alone(text: str) -> None:
    # The prechecks ("@" present, nine ASCII digits, or any non-ASCII text) must never let a match through.
    unconditional = shared_pii._PHONE_OR_DIGIT_RUN.sub("[phone]", shared_pii.EMAIL_PATTERN.sub("[email]", text))
    assert scrub_pii(text) == unconditional


def test_digits_of_other_scripts_are_still_scrubbed() -> None:
    assert scrub_pii("call \uff15\uff15\uff15 \uff11\uff12\uff13 \uff14\uff15\uff16\uff17") == "call [phone]"
