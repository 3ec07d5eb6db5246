"""A/B experiments: definitions from YAML and sticky hash assignment of units to variants.

Shared by two rooms: ingest stamps each turn with `assign_variants`, and analytics reports on the same
definitions. Pure apart from reading the file.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

from services.common.registry import CHAMPION

DEFAULT_EXPERIMENTS_FILE = Path(__file__).parent / "config" / "experiments.yaml"
UNITS = ("customer_id", "conversation_id")
CONTROL = "control"
# A unit converts when it books within this many days of its first exposure. Seven days is the default
# conversion window of GrowthBook and most experimentation tools: long enough for a customer who comes
# back to finish a booking, short enough that later, unrelated bookings are not credited to the variant.
DEFAULT_ATTRIBUTION_DAYS = 7.0


@dataclass(frozen=True)
class Experiment:
    """One experiment. `end` is exclusive; `variants` keeps the file's order and raw weights.

    `attribution_days`: a unit's booking counts as its conversion when it happens within this many days
    of the unit's first exposure (its first turn stamped with the experiment).

    `models`: the registered models (nlp, escalation, upsell) this experiment chooses. In such a model
    experiment each variant's name is a registry alias (`champion`, `challenger`, or any alias set on a
    version), and the workers answer each unit with the version that alias names.
    """

    name: str
    unit: str
    variants: tuple[tuple[str, float], ...]
    start: datetime
    end: datetime | None = None
    control: str = CONTROL
    attribution_days: float = DEFAULT_ATTRIBUTION_DAYS
    models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"experiment {self.name}: unit must be one of {UNITS}, got {self.unit!r}")
        if len(self.variants) < 2:
            raise ValueError(f"experiment {self.name}: needs at least two variants")
        if any(weight <= 0 or not math.isfinite(weight) for _, weight in self.variants):
            raise ValueError(f"experiment {self.name}: weights must be positive")
        if self.control not in dict(self.variants):
            raise ValueError(f"experiment {self.name}: control {self.control!r} is not a variant")
        if not (self.attribution_days > 0 and math.isfinite(self.attribution_days)):
            raise ValueError(f"experiment {self.name}: attribution_days must be a positive number of days")
        if any(not model or not isinstance(model, str) for model in self.models):
            raise ValueError(f"experiment {self.name}: models must be registered model names")

    @property
    def weights(self) -> dict[str, float]:
        """The variants' weights normalised to sum to 1, in file order."""
        total = sum(weight for _, weight in self.variants)
        return {name: weight / total for name, weight in self.variants}

    def is_active(self, at: datetime) -> bool:
        at = _as_utc(at)
        return self.start <= at and (self.end is None or at < self.end)

    def unit_id(self, customer_id: str | None, conversation_id: str) -> str:
        """The id this experiment assigns on: the customer's, or the conversation's when there is none."""
        if self.unit == "customer_id" and customer_id:
            return f"customer:{customer_id}"
        return f"conversation:{conversation_id}"

    def assign(self, unit_id: str) -> str:
        """The variant of `unit_id`: its hash bucket in [0, 1) placed on the cumulative weights."""
        point = bucket(self.name, unit_id)
        cumulative = 0.0
        for name, weight in self.weights.items():
            cumulative += weight
            if point < cumulative:
                return name
        # Rounding can leave the cumulative sum a hair under 1.
        return self.variants[-1][0]


# A conversation's ten-odd turns all ask for the same points; caching them spares ingest a sha256 per turn.
@functools.lru_cache(maxsize=65_536)
def bucket(experiment: str, unit_id: str) -> float:
    """A uniform, stable point in [0, 1) for (experiment, unit).

    The experiment's name is part of the hashed key, so assignments of different experiments
    are independent of each other; sha256 makes it stable across processes and Python versions.
    """
    digest = hashlib.sha256(f"{experiment}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_variants(
    experiments: Iterable[Experiment], *, customer_id: str | None, conversation_id: str, at: datetime
) -> dict[str, str]:
    """{experiment name: variant} for the experiments active at `at`, as stamped on a Turn."""
    return {
        experiment.name: experiment.assign(experiment.unit_id(customer_id, conversation_id))
        for experiment in experiments
        if experiment.is_active(at)
    }


def model_alias(stamped: Mapping[str, str], experiments: Mapping[str, Experiment], model: str) -> str:
    """The registry alias that answers a unit for `model`: its variant in the first model experiment (in the
    order of the turn's stamp) that covers `model`, else `champion`.

    `stamped` is the turn's {experiment: variant}, as ingest assigned it, so serving is as sticky as the
    assignment. A variant the experiment no longer defines, or an experiment no longer in the file, falls
    back to the champion.
    """
    for name, variant in stamped.items():
        experiment = experiments.get(name)
        if experiment is not None and model in experiment.models and variant in experiment.weights:
            return variant
    return CHAMPION


def aliases_in_experiments(experiments: Iterable[Experiment], model: str) -> set[str]:
    """Every alias a model experiment may ask of `model` (what its worker keeps loaded), champion included."""
    aliases = {CHAMPION}
    for experiment in experiments:
        if model in experiment.models:
            aliases.update(name for name, _ in experiment.variants)
    return aliases


def _as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _moment(value: Any, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return _as_utc(value)
    if isinstance(value, date):
        # A date end means "through that day", which is what someone writing `end: 2026-11-30` expects.
        return datetime.combine(value + timedelta(days=1) if end else value, time(), UTC)
    text = str(value)
    return _moment(
        datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text), end=end
    )


def parse_experiments(data: Mapping[str, Any]) -> list[Experiment]:
    """Experiments from the YAML's structure ({"experiments": [...]}); names must be unique."""
    experiments = []
    for entry in data.get("experiments") or []:
        variants = tuple((str(name), float(weight)) for name, weight in dict(entry["variants"]).items())
        names = [name for name, _ in variants]
        experiments.append(
            Experiment(
                name=str(entry["name"]),
                unit=str(entry.get("unit", "customer_id")),
                variants=variants,
                start=_moment(entry["start"], end=False),
                end=_moment(entry["end"], end=True) if entry.get("end") is not None else None,
                control=str(entry.get("control") or (CONTROL if CONTROL in names else names[0])),
                attribution_days=float(entry.get("attribution_days", DEFAULT_ATTRIBUTION_DAYS)),
                models=_models(entry.get("models")),
            )
        )
    seen = [experiment.name for experiment in experiments]
    duplicates = sorted({name for name in seen if seen.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate experiment names: {duplicates}")
    return experiments


def _models(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(model, str) for model in value):
        return tuple(value)
    raise ValueError(f"models must be a model name or a list of them, got {value!r}")


def load_experiments(path: str | Path | None = None) -> list[Experiment]:
    """Reads an experiments file; None (TEPPAN_EXPERIMENTS_FILE unset) reads the shipped `config/experiments.yaml`."""
    with open(path or DEFAULT_EXPERIMENTS_FILE, encoding="utf-8") as handle:
        return parse_experiments(yaml.safe_load(handle) or {})
