"""Serving the champion: a worker's model is `models:/<name>@champion` when the registry has one, else the
folder training built; a promotion is picked up without a restart.

`ServedModel` asks the registry every `TEPPAN_MODEL_REFRESH_S` seconds which version is champion. When it
moved, the new version is fetched and loaded in a thread while the old one keeps answering, then swapped
in between two calls: a batch is answered wholly by one version or the other. A registry that cannot be
reached, or a version that fails to load, is logged and the current model stays in service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
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
    ) -> None:
        self.name = name
        self._built_dir = built_dir
        self._load = load
        self._version_of = version_of
        self._open_registry = open_registry
        self._registry: ModelRegistry | None = None
        self.refresh_s = refresh_s
        self._serving: Serving[ModelT] | None = None

    @property
    def serving(self) -> Serving[ModelT]:
        if self._serving is None:
            raise RuntimeError("ServedModel.start() has not run")
        return self._serving

    @property
    def model(self) -> ModelT:
        return self.serving.model

    @property
    def label(self) -> str:
        return self.serving.label

    async def start(self) -> None:
        """Serve the champion if the registry has one (and it loads), else the built folder."""
        if not await self.refresh():
            model = await asyncio.to_thread(self._load, self._built_dir)
            self._serving = Serving(model, None, self._version_of(model))
            log.info("%s: serving the built model %s from %s", self.name, self.label, self._built_dir)

    async def refresh(self) -> bool:
        """Swap in the registry's champion when it differs from what is served; True when it swapped."""
        try:
            champion = await asyncio.to_thread(self._champion)
            if champion is None:
                return False
            if self._serving is not None and self._serving.registered_version == champion.version:
                return False
            model = await asyncio.to_thread(self._fetch_and_load, champion)
        except Exception:
            # Keep answering with what is loaded: a registry outage must not stop the slow path.
            log.warning("%s: could not check or load the registry's champion", self.name, exc_info=True)
            return False
        previous = self._serving.label if self._serving else None
        self._serving = Serving(model, champion.version, f"{self._version_of(model)}/v{champion.version}")
        log.info("%s: now serving registered version %d (%s; was %s)", self.name, champion.version, self.label, previous)
        return True

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

    def _champion(self) -> Any:
        if self._registry is None:
            self._registry = self._open_registry()
            if self._registry is None:
                return None
        return self._registry.by_alias(self.name, CHAMPION)

    def _fetch_and_load(self, champion: Any) -> ModelT:
        assert self._registry is not None
        return self._load(self._registry.fetch(champion))
