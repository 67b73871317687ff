"""On PYTHONPATH, makes this Python behave like the light image: torch, transformers and
sentence-transformers cannot be imported (an import raises ModuleNotFoundError, as in a
venv without them). tests/deploy uses it to run a real `tenor serve` replica torch-free."""

import sys
from importlib.abc import MetaPathFinder

BLOCKED = ("torch", "transformers", "sentence_transformers", "vllm", "peft")


class _Blocker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the light image has no torch)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
