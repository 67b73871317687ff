"""Adapter versions: ``NAME@N`` folders side by side under ``adapters/``, and which one serves.

``tenor finetune --out NAME`` writes the next version, ``adapters/NAME@N`` (1, 2, ...);
a folder named plain ``NAME`` (trained before versions existed) is version 0. A
version is never overwritten. Which version serves is kept in
``adapters/NAME.history.json``: the versions promoted, in order (the last one
serves), and every promotion and rollback with its eval figures. The first version
of a name serves as soon as it is trained; later ones are candidates until
``tenor adapters promote`` (see ``evaluation.promote``). No torch here.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

SEP = "@"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")  # what vLLM and peft read


class BadRef(ValueError):
    """An adapter reference or name that is not NAME or NAME@N, or a history that cannot be read."""


class NoSuchVersion(ValueError):
    pass


def split_ref(ref: str) -> tuple[str, int | None]:
    """``"larkfield@3"`` -> ``("larkfield", 3)``; ``"larkfield"`` -> ``("larkfield", None)``."""
    name, sep, version = ref.partition(SEP)
    if not sep:
        return ref, None
    if not name or not version.isdigit():
        raise BadRef(f"adapter {ref!r}: write a version as NAME{SEP}N, e.g. {name or 'larkfield'}{SEP}2")
    return name, int(version)


def is_adapter(folder: Path) -> bool:
    return all((Path(folder) / name).is_file() for name in ADAPTER_FILES)


class AdapterVersions:
    """The versions of one adapter name under ``adapters_dir``, and its history."""

    def __init__(self, adapters_dir: Path, name: str):
        if SEP in name or "/" in name or "\\" in name or not name or name.startswith("."):
            raise BadRef(f"adapter name {name!r}: a plain name, without '{SEP}', '/' or a leading '.'")
        self.dir = Path(adapters_dir)
        self.name = name

    def ref(self, version: int) -> str:
        return self.name if version == 0 else f"{self.name}{SEP}{version}"

    def folder(self, version: int) -> Path:
        return self.dir / self.ref(version)

    def versions(self) -> list[int]:
        """The versions on disk that hold an adapter, oldest first."""
        found = [0] if is_adapter(self.folder(0)) else []
        prefix = f"{self.name}{SEP}"
        for path in self.dir.glob(f"{self.name}{SEP}*") if self.dir.is_dir() else []:
            number = path.name[len(prefix):]
            if number.isdigit() and is_adapter(path):
                found.append(int(number))
        return sorted(found)

    @contextmanager
    def training(self):
        """Held while a version of this name is trained: a second `tenor finetune` of the same
        name would pick the same version number and share its checkpoints."""
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = self.dir / f".{self.name}.training.lock"
        with lock.open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BadRef(f"another `tenor finetune` is writing a version of {self.name!r} "
                             f"(it holds {lock}); wait for it to finish") from None
            yield

    def next_version(self) -> int:
        return max(self.versions(), default=0) + 1

    def with_fingerprint(self, fingerprint: str) -> Path | None:
        """The newest version trained from exactly this data, settings and base, if any."""
        for version in reversed(self.versions()):
            try:
                manifest = json.loads((self.folder(version) / "tenor.json").read_text())
            except (OSError, ValueError):
                continue
            if manifest.get("fingerprint") == fingerprint:
                return self.folder(version)
        return None

    # -- which version serves --------------------------------------------------------
    @property
    def history_file(self) -> Path:
        return self.dir / f"{self.name}.history.json"

    def history(self) -> dict:
        try:
            history = json.loads(self.history_file.read_text())
        except FileNotFoundError:
            return {"name": self.name, "served": [], "events": []}
        except ValueError as exc:
            raise BadRef(f"{self.history_file}: not valid JSON ({exc}); fix or move it") from None
        return history

    def serving(self) -> int | None:
        """The version that serves: the last one promoted; else version 0 when that
        folder exists (an adapter from before versions); else none."""
        served = self.history().get("served") or []
        if served:
            return served[-1]
        return 0 if 0 in self.versions() else None

    def promote(self, version: int, action: str = "promote", **details) -> dict:
        """Make ``version`` the serving one (nothing changes when it already is); returns the history."""
        if version not in self.versions():
            raise NoSuchVersion(f"no adapter {self.ref(version)} in {self.dir}"
                                f" (versions: {', '.join(map(self.ref, self.versions())) or 'none'})")
        history = self.history()
        served = history.setdefault("served", [])
        if served and served[-1] == version:
            return history
        current = self.serving()
        if not served and current is not None and current != version:
            served.append(current)  # version 0 served before anything was promoted: rollback returns to it
        served.append(version)
        self._write(history, {"action": action, "version": version, "previous": current, **details})
        return history

    def rollback_target(self) -> int:
        """The version a rollback returns to: the one promoted before the serving one."""
        served = self.history().get("served") or []
        if len(served) < 2:
            raise NoSuchVersion(f"{self.name}: no earlier version to roll back to "
                                f"(serving: {self.ref(served[-1]) if served else 'nothing promoted yet'})")
        if served[-2] not in self.versions():
            raise NoSuchVersion(f"{self.name}: the version to roll back to, {self.ref(served[-2])}, is no "
                                f"longer in {self.dir}")
        return served[-2]

    def rollback(self) -> tuple[int, int]:
        """Serve the version promoted before the serving one again; returns (from, to)."""
        back = self.rollback_target()
        history = self.history()
        left = history["served"].pop()
        self._write(history, {"action": "rollback", "version": back, "previous": left})
        return left, back

    def _write(self, history: dict, event: dict) -> None:
        history["name"] = self.name
        history.setdefault("events", []).append(
            {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **event})
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.history_file.with_name(f".{self.history_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(history, indent=2) + "\n")
        tmp.replace(self.history_file)  # atomic: a reader sees the old history or the new one
