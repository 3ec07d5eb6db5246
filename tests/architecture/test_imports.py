"""The import direction, read from the source with `ast` (nothing is imported or run).

Service rooms never import each other; what two of them share lives below both, in services/common or
schemas/. shared/ and schemas/ sit below every room and import none of services/.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("ingest", "nlp", "ml", "analytics")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, however deeply nested; relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from services import nlp` imports services.nlp: count each imported name as a submodule too.
            yield node.lineno, prefix
            for alias in node.names:
                yield node.lineno, f"{prefix}.{alias.name}"


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "services" and parts[1] in ROOMS:
        return parts[1]
    return None


def violation(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported`, or None when it may."""
    top = importer.split(".")[0]
    if top in ("shared", "schemas") and imported.split(".")[0] == "services":
        return f"{top}/ must not import services"
    if (
        importer.startswith("services.common")
        and imported.startswith("services.")
        and not (imported.startswith("services.common"))
    ):
        return "services/common imports only itself, schemas and shared"
    room, other = room_of(importer), room_of(imported)
    if room is not None and other is not None and other != room:
        return f"services/{room} must not import services/{other}"
    return None


def checked_files() -> list[Path]:
    folders = [ROOT / "services" / room for room in (*ROOMS, "common")] + [ROOT / "shared", ROOT / "schemas"]
    return sorted(path for folder in folders for path in folder.rglob("*.py"))


def violations_in(path: Path) -> list[str]:
    module = module_name(path)
    found = []
    for line, imported in imported_modules(
        path.read_text(encoding="utf-8"), module, path.name == "__init__.py"
    ):
        why = violation(module, imported)
        if why:
            found.append(f"{path.relative_to(ROOT)}:{line} imports {imported}: {why}")
    return found


def test_every_room_is_checked() -> None:
    files = checked_files()
    for folder in (*(f"services/{room}" for room in ROOMS), "services/common", "shared", "schemas"):
        assert any(str(path.relative_to(ROOT)).startswith(folder + "/") for path in files), folder


def test_imports_point_down_only() -> None:
    problems = [problem for path in checked_files() for problem in violations_in(path)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("importer", "source", "expected"),
    [
        (
            "services.ingest.worker",
            "from services.analytics.reports import experiments",
            "services/analytics",
        ),
        ("services.nlp.cli", "def f():\n    from services.ml.training import train", "services/ml"),
        ("services.ml.x", "import services.nlp.fast_path", "services/nlp"),
        ("services.ml.training", "from services import nlp", "services/nlp"),
        ("services.analytics.metrics.core", "from ...ingest import core", "services/ingest"),
        ("shared.logging", "from services.common import corrections", "shared/ must not import services"),
        ("schemas.events", "import services", "schemas/ must not import services"),
        (
            "services.common.x",
            "from services.devtools.supervisor import run_stack",
            "services/common imports only",
        ),
        ("services.nlp.slots", "from services.common.corrections import is_correction", None),
        ("services.nlp.slots", "from . import pii\nfrom schemas.vocabulary import TONES", None),
        ("services.cli", "from services.nlp_cli import nlp_app\nfrom services.ml import training", None),
    ],
)
def test_the_rule_catches_what_it_should(importer: str, source: str, expected: str | None) -> None:
    reasons = [violation(importer, imported) for _, imported in imported_modules(source, importer)]
    found = [reason for reason in reasons if reason]
    if expected is None:
        assert not found
    else:
        assert found and all(expected in reason for reason in found), found
