from __future__ import annotations

from services.nlp import pii
from services.nlp.corrections import is_correction
from services.nlp.upsells import UpsellCatalog


def test_scrub_masks_phones_and_emails() -> None:
    text = "call me at (555) 123-4567 or 555.987.6543, or mail dana.lee+party@example.co.uk"
    out = pii.scrub(text)
    assert "555" not in out and "example" not in out
    assert out.count("[PHONE]") == 2 and out.count("[EMAIL]") == 1


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


def test_corrections() -> None:
    assert is_correction("actually make it 25")
    assert is_correction("sorry, I meant Sunday")
    assert not is_correction("we want hibachi for 25 people")


def test_lower_aligned_keeps_offsets() -> None:
    from services.nlp.entities import has_any, lower_aligned

    text = "İstanbul trip, Party of 8"
    low = lower_aligned(text)
    assert len(low) == len(text) and low.endswith("party of 8")
    assert lower_aligned("Party OF 8") == "party of 8"
    assert has_any("party of 8", ("xyz", "of")) and not has_any("party", ("xyz",))


def test_phone_gate_keeps_every_form() -> None:
    for t in ("(555) 123-4567", "555.987.6543", "+1 555 123 4567", "5551234567"):
        assert pii.detect(f"call {t}")["phone"], t
    assert not pii.detect("party of 30 at 7pm")["phone"]
