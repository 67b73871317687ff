"""Adapters on the running vLLM: hot-load a new version (no restart), promote a version
or roll back (``tenor.adapter_versions`` keeps which one serves), list what each profile serves.

No HTTP here; ``app.py`` maps ``AdaptersUnavailable`` and ``BadRef`` to 400, ``NoSuchVersion``
to 404 and ``HistoryNotWritten`` to 500.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from assistant.engine import Engine, engine_model, lora_name
from assistant.protocol import AdapterList, AdapterLoaded, AdapterVersionChange, ProfileAdapter
from assistant.vllm_process import VllmProcess
from tenor.adapter_versions import SEP, AdapterVersions, NoSuchVersion, split_ref
from tenor.config import Settings

log = logging.getLogger("tenor.server")


class AdaptersUnavailable(Exception):
    """The managed vLLM was started without LoRA, so it cannot take adapters at run time."""


class HistoryNotWritten(Exception):
    """A promotion or rollback could not be recorded (and was undone on vLLM)."""


class AdaptersService:
    def __init__(self, settings: Settings, engine: Engine, vllm: VllmProcess | None):
        self.settings = settings
        self.engine = engine
        self.vllm = vllm
        # LoRA module name -> the version it holds now ("larkfield@3"), for the conversation log
        self.loaded: dict[str, str] = {}
        self._swapping = asyncio.Lock()  # one promotion or rollback at a time: vLLM and the history agree
        for profile in settings.profiles.values():
            if profile.adapter:
                self.loaded[lora_name(profile.adapter)] = settings.resolve_adapter(profile.adapter).name

    def version_of(self, adapter: str | None) -> str | None:
        """The version that answers for an adapter setting (or an admin's override)."""
        return None if adapter is None else self.loaded.get(lora_name(adapter), adapter)

    async def load(self, name: str, path: str) -> AdapterLoaded:
        """Load or replace (in place, under the same name) a LoRA adapter on vLLM.

        Profiles whose adapter has this name use the new weights from the next request.
        """
        if self.vllm is not None and self.vllm.merged:
            raise AdaptersUnavailable(
                f"The managed vLLM serves adapter {self.vllm.merged[0]} merged into its base (vllm.mode: "
                f"{self.settings.vllm.mode}), so it cannot take adapters at run time; for hot swap and promotion "
                "set vllm.mode: lora, or point the profile at the new version and restart.")
        if self.vllm is not None and not self.vllm.lora_enabled:
            raise AdaptersUnavailable(
                "The managed vLLM runs without LoRA (no profile has an adapter), "
                "so it cannot take adapters at run time; give a profile an adapter and restart.")
        await self.engine.load_adapter(name, path)
        if self.vllm is not None and SEP not in name:  # a candidate under evaluation is not kept over restarts
            self.vllm.record_adapter(name, path)
        self.loaded[name] = Path(path).name
        return AdapterLoaded(name=name, path=path, profiles=self._users(name))

    async def promote(self, ref: str, gate: dict | None = None) -> AdapterVersionChange:
        """Serve version ``NAME@N`` under the name ``NAME`` (hot swap), and record it."""
        name, version = split_ref(ref)
        if version is None:
            raise NoSuchVersion(f"promote {ref!r}: name a version, e.g. {ref}@2")
        versions = self._versions(name)
        async with self._swapping:
            previous = versions.serving()
            if version not in versions.versions():
                raise NoSuchVersion(f"no adapter {ref} in {versions.dir}")
            await self._swap(versions, version, previous, lambda: versions.promote(version, gate=gate))
        return self._change(versions, "promote", previous, version)

    async def rollback(self, name: str) -> AdapterVersionChange:
        """Serve the version promoted before the serving one again (hot swap), and record it."""
        versions = self._versions(name)
        async with self._swapping:
            back, left = versions.rollback_target(), versions.serving()
            await self._swap(versions, back, left, versions.rollback)
        return self._change(versions, "rollback", left, back)

    async def _swap(self, versions: AdapterVersions, version: int, previous: int | None, record) -> None:
        """Load ``version`` under the name, then record it; if recording fails, load ``previous``
        back, so vLLM and the history never disagree."""
        await self.load(versions.name, str(versions.folder(version)))
        try:
            record()
        except OSError as exc:
            log.error("could not record %s in %s (%s); swapping back", versions.ref(version),
                      versions.history_file, exc)
            if previous is not None:
                await self.load(versions.name, str(versions.folder(previous)))
            raise HistoryNotWritten(f"could not write {versions.history_file} ({exc.strerror or exc}); "
                                    f"{versions.ref(version)} does not serve") from None

    def _versions(self, name: str) -> AdapterVersions:
        if not self._users(name):
            raise NoSuchVersion(f"no profile serves an adapter named {name!r} "
                                f"(profiles' adapters: {', '.join(sorted(self.loaded)) or 'none'})")
        return AdapterVersions(self.settings.adapters_dir, name)

    def _users(self, name: str) -> list[str]:
        return [n for n, p in self.settings.profiles.items() if p.adapter and lora_name(p.adapter) == name]

    def _change(self, versions: AdapterVersions, action: str, previous: int | None,
                version: int) -> AdapterVersionChange:
        return AdapterVersionChange(action=action, name=versions.name, serving=versions.ref(version),
                                    previous=None if previous is None else versions.ref(previous),
                                    profiles=self._users(versions.name))

    async def listing(self) -> AdapterList:
        served = await self.engine.models()
        return AdapterList(served=served, data=[
            ProfileAdapter(profile=n, adapter=p.adapter, version=self.version_of(p.adapter),
                           model=engine_model(p), served=engine_model(p) in served)
            for n, p in self.settings.profiles.items()
        ])
