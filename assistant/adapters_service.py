"""Adapters on the running vLLM: hot-load a new version (no restart), promote a version
or roll back (``tenor.adapter_versions`` keeps which one serves), list what each profile serves.

No HTTP here; ``AdaptersUnavailable`` becomes a 400 and ``NoSuchVersion`` a 404 in ``app.py``.
"""

from __future__ import annotations

from pathlib import Path

from assistant.engine import Engine, engine_model, lora_name
from assistant.protocol import AdapterList, AdapterLoaded, AdapterVersionChange, ProfileAdapter
from assistant.vllm_process import VllmProcess
from tenor.adapter_versions import AdapterVersions, NoSuchVersion, split_ref
from tenor.config import Settings


class AdaptersUnavailable(Exception):
    """The managed vLLM was started without LoRA, so it cannot take adapters at run time."""


class AdaptersService:
    def __init__(self, settings: Settings, engine: Engine, vllm: VllmProcess | None):
        self.settings = settings
        self.engine = engine
        self.vllm = vllm
        # LoRA module name -> the version it holds now ("larkfield@3"), for the conversation log
        self.loaded: dict[str, str] = {}
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
        if self.vllm is not None and not self.vllm.lora_enabled:
            raise AdaptersUnavailable(
                "The managed vLLM runs without LoRA (no profile has an adapter), "
                "so it cannot take adapters at run time; give a profile an adapter and restart.")
        await self.engine.load_adapter(name, path)
        if self.vllm is not None:
            self.vllm.record_adapter(name, path)
        self.loaded[name] = Path(path).name
        return AdapterLoaded(name=name, path=path, profiles=self._users(name))

    async def promote(self, ref: str, gate: dict | None = None) -> AdapterVersionChange:
        """Serve version ``NAME@N`` under the name ``NAME`` (hot swap), and record it."""
        name, version = split_ref(ref)
        if version is None:
            raise NoSuchVersion(f"promote {ref!r}: name a version, e.g. {ref}@2")
        versions = self._versions(name)
        previous = versions.serving()
        if version not in versions.versions():
            raise NoSuchVersion(f"no adapter {ref} in {versions.dir}")
        await self.load(name, str(versions.folder(version)))
        versions.promote(version, gate=gate)
        return self._change(versions, "promote", previous, version)

    async def rollback(self, name: str) -> AdapterVersionChange:
        """Serve the version promoted before the serving one again (hot swap), and record it."""
        versions = self._versions(name)
        await self.load(name, str(versions.folder(versions.rollback_target())))
        left, back = versions.rollback()
        return self._change(versions, "rollback", left, back)

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
