"""The learning loop end to end, on the real stack (issue 10's acceptance):

1. a day of demo traffic goes through ingest, the nlp and escalation workers and the analytics workers,
   and humans label half of the customer turns (from the demo's own ground truth);
2. `teppan replay` gets back exactly that day's records from the broker;
3. `teppan ml dataset build` turns the day into training sets;
4. `teppan ml train nlp|escalation|upsell --dataset` trains all three (tiny) and registers them: the nlp and
   escalation versions as challengers of the champions in service, the upsell model as its first champion;
5. a champion/challenger experiment runs on live traffic: each customer is served its variant's versions on
   both paths, humans label the turns, promotion is refused until the challenger has won, the report counts
   each variant's customers, bookings and labelled turns, and `teppan ml promote --from-experiment` makes the
   winner champion; the running workers serve it without a restart;
6. answers shifted away from the new champion's registered reference raise model_drift at the local Sentry
   endpoint, naming the registered version.

The session's analytics workers watch the same registry (`analytics_registry`); the aliases this test sets
are removed at the end, so later tests are not checked against its models.
"""

from __future__ import annotations

import json
import random
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas import topics
from schemas.events import MessageAnalysis
from services.analytics.alert_rules.drift import MIN_PREDICTIONS
from services.common.registry import CHALLENGER, CHAMPION, ModelRegistry
from services.devtools.demo_traffic import generate_conversations
from shared.embedded import EmbeddedServers
from shared.settings import Settings
from tests.analytics.paging.fake_sentry import FakeSentry
from tests.stack.analytics_helpers import read_topic, teppan, teppan_command, teppan_json
from tests.stack.helpers import WorkerProcesses, chat_message, produce_events, wait_for, wait_until_caught_up

pytestmark = pytest.mark.stack

# 80 conversations: 871 chat messages, 74 outcomes and 355 distinct customer texts, enough for the upsell set
# (30 rows at least) and for a drift reference drawn from the collected traffic (200 texts at least).
CONVERSATIONS = 80
DEMO_SEED = 20261206
# The experiment's customer turns: varied, hand-written messages. Even at TEPPAN_ESCALATION_THRESHOLD=1 a
# turn the fast path is sure of (a confidence that rounds to 1.0) does not escalate, so which turns reach the
# slow path depends on the version; varied texts make sure each variant has some that do.
EXPERIMENT_TEXTS = [
    json.loads(line)["text"]
    for line in (Path(__file__).resolve().parents[2] / "services/ml/gold/hand_written.jsonl").read_text().splitlines()[:60]
]
EXPERIMENT_CUSTOMERS = 40
# The champions in service before the loop ran, registered with the lowest gold figures (the tiny models
# trained here score little on the gold set): the gold-set check passes, and the experiment on live
# traffic decides the promotion.
OLD_GOLD = {"gold_intent_accuracy": 0.0, "gold_tone_macro_f1": 0.0}
PIPELINE_KINDS = ("ingest", "logger", "nlp", "escalation", "edge-cases", "metrics")


@pytest.fixture
async def registry(analytics_registry: dict[str, str], tmp_path: Path) -> AsyncIterator[ModelRegistry]:
    registry = ModelRegistry(
        analytics_registry["TEPPAN_MLFLOW_TRACKING_URI"], analytics_registry["TEPPAN_MLFLOW_ARTIFACTS"], tmp_path
    )
    yield registry
    for name in ("nlp", "escalation", "upsell"):
        for alias in (CHAMPION, CHALLENGER):
            if registry.by_alias(name, alias) is not None:
                registry.delete_alias(name, alias)


def a_day_of_demo_traffic(day: date) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """The day's input events in time order, and human labels for half of its customer turns."""
    events: list[tuple[str, dict[str, Any]]] = []
    labels: list[dict[str, Any]] = []
    labeller = random.Random(3)
    start = datetime.combine(day, time(9), UTC)
    # A fixed seed: the models trained on the day, and so how sure they are of the experiment's turns, are
    # the same on every run.
    for conversation in generate_conversations(seed=DEMO_SEED, start=start, count=CONVERSATIONS):
        events += conversation.events
        for topic, event in conversation.events:
            truth = conversation.truth.get(event["event_id"])
            if topic != topics.CHAT_MESSAGES or truth is None or labeller.random() < 0.5:
                continue
            for field in ("tone", "intent"):
                labels.append(
                    event_about(event, "label", message_event_id=event["event_id"], field=field,
                                value=truth[field], labeller="owner")
                )  # fmt: skip
    events.sort(key=lambda item: item[1]["occurred_at"])
    return events, labels


def event_about(about: dict[str, Any], event_type: str, **fields: Any) -> dict[str, Any]:
    """An event of `event_type` in the conversation of `about`, from its customer."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": fields.pop("occurred_at", about["occurred_at"]),
        "conversation_id": about["conversation_id"],
        "customer_id": about.get("customer_id"),
        "source": "test",
        **fields,
    }


def stamped_turn(customer_id: int, experiment: str, variant: str, text: str) -> dict[str, Any]:
    message = chat_message(str(uuid.uuid4()), 0, customer_id=customer_id, text=text)
    return {**message, "event_type": "chat.turn", "turn_index": 0, "experiments": {experiment: variant}}


async def served_labels(settings: Settings, event_ids: set[str]) -> dict[str, dict[str, str]]:
    """message id -> {path: the registered version that answered it}, once every id has its fast analysis
    and, where that escalated, its ML analysis."""
    found: dict[str, dict[str, str]] = {}
    escalated: dict[str, bool] = {}

    async def answered() -> bool:
        records = await read_topic(settings, topics.NLP_ANALYSES, lambda e: e.get("message_event_id") in event_ids)
        for event in (json.loads(value) for _, value in records):
            key = "registered" if event["path"] == "fast" else "escalation"
            found.setdefault(event["message_event_id"], {})[event["path"]] = event["model_versions"][key]
            if event["path"] == "fast":
                escalated[event["message_event_id"]] = event["escalate"]
        return all(
            event_id in escalated and len(found[event_id]) == (2 if escalated[event_id] else 1)
            for event_id in event_ids
        )

    assert await wait_for(answered, timeout_s=90, interval_s=0.5), f"analyses missing: {found}"
    return found


async def test_the_learning_loop_from_a_day_of_traffic_to_a_promoted_model_and_its_drift_alarm(
    stack: Settings,
    stack_servers: EmbeddedServers,
    pipeline: WorkerProcesses,
    analytics: WorkerProcesses,
    fake_sentry: FakeSentry,
    analytics_registry: dict[str, str],
    registry: ModelRegistry,
    nlp_artifacts_dir: Path,
    escalation_model_dir: Path,
    tmp_path: Path,
) -> None:
    # The champions in service, and workers that serve them and a model experiment's aliases.
    registry.register("nlp", nlp_artifacts_dir, metrics=OLD_GOLD, params={}, lineage={}, model_version="nlp-old")
    registry.register(
        "escalation", escalation_model_dir, metrics=OLD_GOLD, params={}, lineage={}, model_version="escalation-old"
    )
    experiment = f"models_ab_{uuid.uuid4().hex[:8]}"
    experiments_file = tmp_path / "experiments.yaml"
    experiments_file.write_text(
        f"experiments:\n  - name: {experiment}\n    unit: customer_id\n    models: [nlp, escalation]\n"
        "    control: champion\n    variants: {champion: 0.5, challenger: 0.5}\n    start: 2026-11-01\n"
    )
    env = {**analytics_registry, "TEPPAN_EXPERIMENTS_FILE": str(experiments_file)}
    # Every customer turn takes the slow path too, so each answer names both versions.
    served = WorkerProcesses(
        stack, stack_servers, ("nlp", "escalation"), TEPPAN_NLP_ARTIFACTS_DIR=str(nlp_artifacts_dir),
        TEPPAN_ESCALATION_MODEL_DIR=str(escalation_model_dir), TEPPAN_ESCALATION_THRESHOLD="1", **env,
    )  # fmt: skip
    for kind in served.kinds:
        await served.start(kind)
    try:
        # 1. A day of demo traffic (a far-future day of its own), with labels.
        day = date(2032, 1, 1) + timedelta(days=random.randint(0, 3000))
        events, labels = a_day_of_demo_traffic(day)
        replay_since = datetime.now(UTC) - timedelta(seconds=1)
        for topic in {topic for topic, _ in events}:
            await produce_events(stack, topic, [event for t, event in events if t == topic])
        await wait_until_caught_up(stack, PIPELINE_KINDS, timeout_s=180)
        await produce_events(stack, topics.LABELS, labels)
        await wait_until_caught_up(stack, ("metrics",), timeout_s=60)
        replay_until = datetime.now(UTC) + timedelta(seconds=1)

        # 2. Replay gets back exactly the day's chat messages and labels.
        replayed = tmp_path / "replay"
        await teppan(stack, "replay", "--topics", f"{topics.CHAT_MESSAGES},{topics.LABELS}",
                     "--since", replay_since.isoformat(), "--until", replay_until.isoformat(),
                     "--out", str(replayed), "--no-progress")  # fmt: skip
        manifest = json.loads((replayed / "manifest.json").read_text())
        sent = {event["event_id"] for topic, event in events if topic == topics.CHAT_MESSAGES}
        sent |= {label["event_id"] for label in labels}
        got = {
            json.loads(json.loads(line)["value"])["event_id"]
            for path in replayed.rglob("*.jsonl")
            for line in path.read_text().splitlines()
        }
        labels_sent = {label["event_id"] for label in labels}
        assert not sent - got, (len(sent - got), len((sent - got) & labels_sent), len(sent), manifest)
        assert got == sent and manifest["records"] == len(sent)

        # 3. The day's training sets.
        dataset = tmp_path / "dataset"
        built = await teppan_json_out(stack, "ml", "dataset", "build", "--since", f"{day}T00:00Z",
                                      "--until", f"{day + timedelta(days=1)}T00:00Z", "--out", str(dataset),
                                      **env)  # fmt: skip
        assert built["files"]["tone.jsonl"]["rows"] > 0 and built["files"]["upsell.jsonl"]["rows"] >= 30

        # 4. All three trained on it and registered.
        artefacts = tmp_path / "nlp"
        shutil.copytree(nlp_artifacts_dir, artefacts)  # keeps its static embeddings: only the heads retrain
        nlp = await teppan_json_out(stack, "ml", "train", "nlp", "--artifacts", str(artefacts), "--domain-only",
                                    "--dataset", str(dataset), **env)  # fmt: skip
        escalation = await teppan_json_out(stack, "ml", "train", "escalation", "--out", str(tmp_path / "esc"),
                                           "--dataset", str(dataset), "--domain-only", "--layers", "1",
                                           "--max-rows", "400", "--epochs", "1", "--no-onnx", **env)  # fmt: skip
        upsell = await teppan_json_out(stack, "ml", "train", "upsell", "--dataset", str(dataset), **env)
        assert (nlp["registered"]["version"], nlp["registered"]["aliases"]) == (2, [CHALLENGER])
        assert (escalation["registered"]["version"], escalation["registered"]["aliases"]) == (2, [CHALLENGER])
        assert upsell["registered"]["aliases"] == [CHAMPION]
        for document in (escalation["registered"], upsell["registered"]):
            assert built["sha256"] in json.dumps(document["lineage"])
        assert escalation["data"]["dataset"]["sha256"] == built["sha256"]
        assert escalation["registered"]["lineage"]["dataset"]["sha256"] == built["sha256"]
        assert escalation["model_version"].endswith(f"+collected-{built['sha256'][:8]}")
        # `--no-onnx` (the ONNX export is the bench's and the tiny model's tests'): the challenger serves torch.
        assert escalation["cpu_backend"] == "torch" and set(escalation["held_out"]) == {"torch"}
        # The drift references of the versions trained on the day are the day's own traffic.
        for document in (nlp["registered"], escalation["registered"]):
            assert document["reference"]["source"].startswith(f"collected dataset {built['sha256'][:8]}")

        # 5. The challenger against the champion on live traffic: each variant's customers get its versions.
        base = random.randint(10**6, 10**9)
        from services.common.experiments import load_experiments

        (definition,) = load_experiments(experiments_file)
        turns = []
        for i in range(EXPERIMENT_CUSTOMERS):
            variant = definition.assign(f"customer:{base + i}")
            turns.append(stamped_turn(base + i, experiment, variant, EXPERIMENT_TEXTS[i]))
        await produce_events(stack, topics.CHAT_TURNS, turns)
        labels_by_turn = await served_labels(stack, {turn["event_id"] for turn in turns})
        old_escalation = json.loads((escalation_model_dir / "meta.json").read_text())["model_version"] + "/v1"
        new_escalation = f"{escalation['model_version']}/v2"
        escalated = {CHAMPION: 0, CHALLENGER: 0}
        for turn in turns:
            variant = turn["experiments"][experiment]
            expected = (
                {"fast": "nlp/v2", "ml": new_escalation} if variant == CHALLENGER else {"fast": "nlp/v1", "ml": old_escalation}
            )
            answer = labels_by_turn[turn["event_id"]]
            assert answer == {path: expected[path] for path in answer}, (variant, answer)
            escalated[variant] += "ml" in answer
        assert min(escalated.values()) >= 3, escalated  # both variants' slow paths were seen answering
        # Humans label every turn's intent; the report compares the variants' accuracy on those labels.
        intent_labels = [
            event_about(turn, "label", message_event_id=turn["event_id"], field="intent", value="booking_inquiry",
                        labeller="owner")
            for turn in turns
        ]  # fmt: skip
        await produce_events(stack, topics.LABELS, intent_labels)
        await wait_until_caught_up(stack, ("metrics",), timeout_s=60)
        # Before any outcome the challenger has not won: nothing is promoted.
        status, _, err = await teppan_command(stack, "ml", "promote", "nlp", "--from-experiment", experiment, **env)
        assert status == 1 and "has not won" in err, err
        # The challenger's customers book; one of the champion's does.
        champions = [turn for turn in turns if turn["experiments"][experiment] == CHAMPION]
        challengers = [turn for turn in turns if turn["experiments"][experiment] == CHALLENGER]
        bookers = challengers + champions[:1]
        now = datetime.now(UTC).isoformat()
        outcomes = [
            event_about(turn, "booking.outcome", occurred_at=now, booked=True, booking_id=f"BK{turn['customer_id']}",
                        total_value=900.0, offered_upsells=[], accepted_upsells=[])
            for turn in bookers
        ]  # fmt: skip
        await produce_events(stack, topics.CHAT_OUTCOMES, outcomes)
        await wait_until_caught_up(stack, ("ingest", "logger"), timeout_s=60)
        report = await teppan_json(stack, "experiments", "report", experiment, **env)
        variants = report["variants"]
        assert (variants[CHALLENGER]["n"], variants[CHALLENGER]["conversions"]) == (len(challengers),) * 2
        assert variants[CHAMPION]["conversions"] == 1
        for variant, mine in ((CHAMPION, champions), (CHALLENGER, challengers)):
            assert variants[variant]["label_accuracy"]["intent"]["labelled"] == len(mine)
        assert report["comparisons"][CHALLENGER]["chance_to_beat_control"] >= 0.95
        for name in ("nlp", "escalation"):
            out = await teppan(stack, "ml", "promote", name, "--from-experiment", experiment, **env)
            assert f"{name} v2 is now the champion" in out
        # The same processes now answer every customer with v2.
        probes = iter(EXPERIMENT_TEXTS * 3)

        async def serving_v2() -> bool:
            """True once a fresh turn outside the experiment is answered by v2 on both paths."""
            probe = stamped_turn(base + EXPERIMENT_CUSTOMERS, "no_experiment", "none", next(probes))
            await produce_events(stack, topics.CHAT_TURNS, [probe])
            answered = await served_labels(stack, {probe["event_id"]})
            return answered[probe["event_id"]] == {"fast": "nlp/v2", "ml": new_escalation}

        assert await wait_for(serving_v2, timeout_s=60, interval_s=0.5)
        assert all(process.returncode is None for process in served.processes.values())

        # 6. Answers shifted away from the new champion's registered reference page model_drift.
        await produce_events(stack, topics.NLP_ANALYSES, shifted_answers(MIN_PREDICTIONS + 100, new_escalation))

        async def paged() -> list[dict[str, Any]]:
            return [e for e in fake_sentry.events() if e.get("fingerprint") == ["model_drift"]]

        (page,) = await wait_for(paged, timeout_s=90)
        assert f"escalation v2 ({escalation['model_version']})" in page["message"]
        assert "against its registered reference" in page["message"]
    finally:
        await served.stop_all()


async def teppan_json_out(settings: Settings, *args: str, **env: str) -> dict[str, Any]:
    """A command that prints its JSON document on stdout (progress goes to stderr)."""
    document: dict[str, Any] = json.loads(await teppan(settings, *args, **env))
    return document


def shifted_answers(count: int, served_as: str) -> list[dict[str, Any]]:
    """The slow path's answers to an hour of anxious, complaining customers: nothing like its reference."""
    now = datetime.now(UTC)
    return [
        MessageAnalysis(
            conversation_id=uuid.uuid4(),
            occurred_at=now - timedelta(milliseconds=5 * i),
            message_event_id=uuid.uuid4(),
            turn_index=0,
            tone="anxious",
            intent="complaint",
            sentiment="negative",
            confidence=0.62,
            path="ml",
            model_versions={"escalation": served_as},
        ).model_dump(mode="json")
        for i in range(count)
    ]
