"""Experiment definitions from YAML and sticky, weighted, independent assignment (shared by ingest and analytics)."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scipy import stats

from services.analytics.reports.experiments import srm_check
from services.common.experiments import (
    DEFAULT_EXPERIMENTS_FILE,
    Experiment,
    aliases_in_experiments,
    assign_variants,
    bucket,
    load_experiments,
    model_alias,
    parse_experiments,
)

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
REPLY_STYLE = Experiment(
    name="reply_style",
    unit="customer_id",
    variants=(("control", 0.5), ("nlp_enhanced", 0.5)),
    start=datetime(2026, 11, 1, tzinfo=UTC),
)


def test_shipped_file_has_the_demo_experiment() -> None:
    assert load_experiments() == load_experiments(DEFAULT_EXPERIMENTS_FILE)  # unset setting: the shipped file
    experiments = {e.name: e for e in load_experiments(DEFAULT_EXPERIMENTS_FILE)}
    reply = experiments["reply_style"]
    assert reply.unit == "customer_id"
    assert reply.weights == {"control": 0.5, "nlp_enhanced": 0.5}
    assert reply.control == "control"
    assert reply.start == datetime(2026, 11, 1, tzinfo=UTC) and reply.end is None
    assert experiments["prompt_version"].control == "v1.0"


def test_parse_windows_weights_and_control(tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(
        "experiments:\n"
        "  - name: model_ab\n"
        "    unit: conversation_id\n"
        "    variants: {groq: 1, openai: 3}\n"
        "    start: 2026-11-01\n"
        "    end: 2026-11-30\n"
        "    attribution_days: 3\n"
    )
    (exp,) = load_experiments(path)
    assert exp.attribution_days == 3.0
    assert exp.weights == {"groq": 0.25, "openai": 0.75}
    assert exp.control == "groq"  # no variant named control: the first listed
    assert exp.is_active(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))  # a date end includes the day
    assert not exp.is_active(datetime(2026, 12, 1, tzinfo=UTC))
    assert not exp.is_active(datetime(2026, 10, 31, 23, 59, tzinfo=UTC))


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "x", "unit": "session", "variants": {"a": 1, "b": 1}, "start": "2026-11-01"},
        {"name": "x", "variants": {"a": 1}, "start": "2026-11-01"},
        {"name": "x", "variants": {"a": 1, "b": 0}, "start": "2026-11-01"},
        {"name": "x", "variants": {"a": 1, "b": 1}, "control": "c", "start": "2026-11-01"},
        {"name": "x", "variants": {"a": 1, "b": 1}, "start": "2026-11-01", "attribution_days": 0},
        {"name": "x", "variants": {"a": 1, "b": 1}, "start": "2026-11-01", "attribution_days": "nan"},
        {"name": "x", "variants": {"a": 1, "b": 1}, "start": "2026-11-01", "models": [""]},
        {"name": "x", "variants": {"a": 1, "b": 1}, "start": "2026-11-01", "models": {"nlp": 1}},
    ],
)
def test_invalid_definitions_are_rejected(entry: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse_experiments({"experiments": [entry]})


def test_duplicate_names_are_rejected() -> None:
    entry = {"name": "x", "variants": {"a": 1, "b": 1}, "start": "2026-11-01"}
    with pytest.raises(ValueError):
        parse_experiments({"experiments": [entry, entry]})


def test_bucket_is_sha256_of_experiment_and_unit() -> None:
    digest = hashlib.sha256(b"reply_style:customer:42").digest()
    assert bucket("reply_style", "customer:42") == int.from_bytes(digest[:8], "big") / 2**64


def test_assignment_is_sticky_and_falls_back_to_conversation() -> None:
    first = assign_variants([REPLY_STYLE], customer_id="42", conversation_id="conv-a", at=NOW)
    again = assign_variants([REPLY_STYLE], customer_id="42", conversation_id="conv-b", at=NOW)
    assert first == again  # same customer, another conversation: same variant
    expected = REPLY_STYLE.assign("conversation:conv-z")
    assert assign_variants([REPLY_STYLE], customer_id=None, conversation_id="conv-z", at=NOW) == {
        "reply_style": expected
    }
    assert (
        assign_variants(
            [REPLY_STYLE], customer_id="42", conversation_id="c", at=datetime(2026, 10, 1, tzinfo=UTC)
        )
        == {}
    )


def test_assignment_follows_weights_and_is_independent_across_experiments() -> None:
    skewed = Experiment("skewed", "customer_id", (("control", 0.2), ("b", 0.3), ("c", 0.5)), NOW)
    units = [f"customer:{i}" for i in range(20_000)]
    a = [REPLY_STYLE.assign(u) for u in units]
    b = [skewed.assign(u) for u in units]
    counts = {name: b.count(name) for name in ("control", "b", "c")}
    assert not srm_check(counts, skewed.weights)["flagged"]
    # Independence: the 2x3 table of joint assignments shows no association.
    table = [
        [sum(1 for x, y in zip(a, b, strict=True) if x == va and y == vb) for vb in counts]
        for va in ("control", "nlp_enhanced")
    ]
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_a_model_experiment_answers_each_unit_with_its_variants_alias() -> None:
    (models_ab, other) = parse_experiments(
        {
            "experiments": [
                {
                    "name": "models_ab",
                    "models": ["nlp", "escalation"],
                    "control": "champion",
                    "variants": {"champion": 1, "challenger": 1},
                    "start": "2026-11-01",
                },
                {"name": "reply_style", "variants": {"control": 1, "nlp_enhanced": 1}, "start": "2026-11-01"},
            ]
        }
    )
    assert models_ab.models == ("nlp", "escalation") and other.models == ()
    by_name = {"models_ab": models_ab, "reply_style": other}
    assert aliases_in_experiments(by_name.values(), "nlp") == {"champion", "challenger"}
    assert aliases_in_experiments(by_name.values(), "upsell") == {"champion"}
    # The alias follows the turn's stamp, so it is exactly as sticky as ingest's assignment.
    stamps = [
        assign_variants(by_name.values(), customer_id=f"c{i}", conversation_id=f"v{i}", at=NOW) for i in range(200)
    ]
    for stamp in stamps:
        assert model_alias(stamp, by_name, "nlp") == stamp["models_ab"]
        assert model_alias(stamp, by_name, "escalation") == stamp["models_ab"]
        assert model_alias(stamp, by_name, "upsell") == "champion"  # not a model the experiment chooses
    assert {model_alias(stamp, by_name, "nlp") for stamp in stamps} == {"champion", "challenger"}
    # A stamp the definitions no longer know is answered by the champion.
    assert model_alias({"models_ab": "retired_variant"}, by_name, "nlp") == "champion"
    assert model_alias({"gone": "challenger"}, by_name, "nlp") == "champion"
    assert model_alias({}, by_name, "nlp") == "champion"
