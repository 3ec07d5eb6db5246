"""Serving the champion: a worker's model is `models:/<name>@champion` when the registry has one, else the
folder training built; a promotion is picked up without a restart.

`ServedModel` asks the registry every `TEPPAN_MODEL_REFRESH_S` seconds which version each alias it serves
names. When one moved, the new version is fetched and loaded in a thread while the old one keeps answering,
then swapped in between two calls: a batch is answered wholly by one version or the other. A registry that
cannot be reached, or a version that fails to load, is logged and the current model stays in service.

Besides `champion` it serves the aliases that model experiments ask for (`challenger`, say): each unit of
such an experiment is answered by its variant's alias (services.common.experiments.model_alias). An alias
no version carries is answered by the champion, and two aliases on one version share one loaded model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from services.common.registry import CHAMPION, ModelRegistry, default_tracking_uri
from shared.settings import Settings

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT")


@dataclass(frozen=True)
class Serving(Generic[ModelT]):
    """What is in service: the model, the registered version it came from (None: the built folder), and
    the label its answers carry (`<model version>/v<registered version>`)."""

    model: ModelT
    registered_version: int | None
    label: str


def open_registry_for_workers(settings: Settings) -> ModelRegistry | None:
    """The registry, or None where workers should not look: refreshing is off (TEPPAN_MODEL_REFRESH_S=0),
    or the embedded default's SQLite file does not exist yet (nothing was ever registered, and opening it
    would create it)."""
    if settings.model_refresh_s <= 0:
        return None
    if settings.mlflow_tracking_uri is None:
        path = Path(default_tracking_uri(settings.data_dir).removeprefix("sqlite:///"))
        if not path.exists():
            return None
    return ModelRegistry.from_settings(settings)


class ServedModel(Generic[ModelT]):
    def __init__(
        self,
        name: str,
        built_dir: Path,
        load: Callable[[Path], ModelT],
        version_of: Callable[[ModelT], str],
        open_registry: Callable[[], ModelRegistry | None],
        *,
        refresh_s: float,
        aliases: Iterable[str] = (),
    ) -> None:
        self.name = name
        self._built_dir = built_dir
        self._load = load
        self._version_of = version_of
        self._open_registry = open_registry
        self._registry: ModelRegistry | None = None
        self.refresh_s = refresh_s
        # Champion first: it is what every other alias falls back to.
        self.aliases: tuple[str, ...] = (CHAMPION, *sorted(set(aliases) - {CHAMPION}))
        self._servings: dict[str, Serving[ModelT]] = {}

    @property
    def serving(self) -> Serving[ModelT]:
        """What answers for the champion."""
        serving = self._servings.get(CHAMPION)
        if serving is None:
            raise RuntimeError("ServedModel.start() has not run")
        return serving

    def serving_for(self, alias: str) -> Serving[ModelT]:
        """What answers for `alias`: its registered version when one carries it, else the champion."""
        return self._servings.get(alias) or self.serving

    @property
    def model(self) -> ModelT:
        return self.serving.model

    @property
    def label(self) -> str:
        return self.serving.label

    async def start(self) -> None:
        """Serve the champion if the registry has one (and it loads), else the built folder; and every other
        alias that a version carries."""
        await self.refresh()
        if CHAMPION not in self._servings:
            model = await asyncio.to_thread(self._load, self._built_dir)
            self._servings[CHAMPION] = Serving(model, None, self._version_of(model))
            log.info("%s: serving the built model %s from %s", self.name, self.label, self._built_dir)

    async def refresh(self) -> bool:
        """Swap in the version each alias names where it differs from what is served; True when any swapped."""
        swapped = False
        for alias in self.aliases:
            swapped |= await self._refresh_alias(alias)
        return swapped

    async def _refresh_alias(self, alias: str) -> bool:
        current = self._servings.get(alias)
        try:
            registered = await asyncio.to_thread(self._lookup, alias)
            if registered is None:
                # The alias was removed (a challenger promoted, say): its units go back to the champion. The
                # champion itself keeps what it serves; nothing registered means the built folder.
                if alias != CHAMPION and current is not None:
                    del self._servings[alias]
                    log.info("%s: no version is @%s any more; the champion answers for it", self.name, alias)
                    return True
                return False
            if current is not None and current.registered_version == registered.version:
                return False
            loaded = self._loaded(registered.version)
            model = loaded.model if loaded else await asyncio.to_thread(self._fetch_and_load, registered)
        except Exception:
            # Keep answering with what is loaded: a registry outage must not stop the worker.
            log.warning("%s: could not check or load the registry's @%s", self.name, alias, exc_info=True)
            return False
        previous = current.label if current else None
        self._servings[alias] = Serving(model, registered.version, f"{self._version_of(model)}/v{registered.version}")
        log.info(
            "%s: @%s is now registered version %d (%s; was %s)",
            self.name,
            alias,
            registered.version,
            self._servings[alias].label,
            previous,
        )
        return True

    def _loaded(self, version: int) -> Serving[ModelT] | None:
        """A serving of `version` already in memory under another alias (a promoted challenger, say)."""
        return next((s for s in self._servings.values() if s.registered_version == version), None)

    async def run(self) -> None:
        """Refresh every `refresh_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.refresh_s)
            await self.refresh()

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Refreshes in the background while the block runs (not at all when `refresh_s` is 0)."""
        watcher = asyncio.create_task(self.run()) if self.refresh_s > 0 else None
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    def _lookup(self, alias: str) -> Any:
        if self._registry is None:
            self._registry = self._open_registry()
            if self._registry is None:
                return None
        return self._registry.by_alias(self.name, alias)

    def _fetch_and_load(self, registered: Any) -> ModelT:
        assert self._registry is not None
        return self._load(self._registry.fetch(registered))
