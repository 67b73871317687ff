"""Adapters on the running vLLM: hot-load a new version (no restart), list what each profile serves.

No HTTP here; ``AdaptersUnavailable`` becomes a 400 in ``app.py``.
"""

from __future__ import annotations

from assistant.engine import Engine, engine_model, lora_name
from assistant.protocol import AdapterList, AdapterLoaded, ProfileAdapter
from assistant.vllm_process import VllmProcess
from tenor.config import Settings


class AdaptersUnavailable(Exception):
    """The managed vLLM was started without LoRA, so it cannot take adapters at run time."""


class AdaptersService:
    def __init__(self, settings: Settings, engine: Engine, vllm: VllmProcess | None):
        self.settings = settings
        self.engine = engine
        self.vllm = vllm

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
        users = [n for n, p in self.settings.profiles.items() if p.adapter and lora_name(p.adapter) == name]
        return AdapterLoaded(name=name, path=path, profiles=users)

    async def listing(self) -> AdapterList:
        served = await self.engine.models()
        return AdapterList(served=served, data=[
            ProfileAdapter(profile=n, adapter=p.adapter, model=engine_model(p), served=engine_model(p) in served)
            for n, p in self.settings.profiles.items()
        ])
