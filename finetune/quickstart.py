"""The sample adapter for the quickstart: trained once, reused while nothing changed.

The adapter is trained in grounded mode, on the prompt shape the server sends
(the profile's system prompt + grounding rules + passages from the profile's
collection, through ``tenor.prompt.build_prompt``): an adapter trained on
another prompt loses the voice when served. To fit the quickstart's budget on
a 2-core CPU, it uses ``tenor finetune``'s default recipe (``TrainConfig()``): training
prompts carry one passage (the relevant one, or a distractor for the no-answer
examples; the server sends up to ``retrieval.k``, and the prefix the voice keys on
is the same), and training runs 1.5 epochs in batches of 2 (more optimizer steps
for the same compute) at 3e-4. ``docs/finetune.md`` has the measurements behind these values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from finetune.adapters import read_manifest, training_target
from finetune.data import file_hash
from finetune.train import TrainConfig, TrainResult, _say, train_adapter
from tenor.adapter_versions import AdapterVersions
from tenor.config import Settings

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "examples" / "larkfield" / "voice" / "train.jsonl"


def ensure_sample_adapter(
    settings: Settings,
    profile_name: str = "larkfield",
    data: Path | str = SAMPLE_DATA,
    *,
    config: TrainConfig | None = None,
    force: bool = False,
    show_progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``profile_name``'s adapter on ``data`` (grounded in the profile's
    collection, which must already be indexed), or reuse it when the data, the
    retrieved passages, the settings and the base model are unchanged."""
    profile = settings.profile(profile_name)
    if not profile.adapter:
        raise ValueError(f"profile {profile_name!r} names no adapter to train")
    out = settings.resolve_adapter(profile.adapter)
    _refuse_other_adapter(out, Path(data))
    _require_documents(settings, profile.collection)
    extra = {"say": report} if report else {}
    target = training_target(settings, profile.adapter)
    result = train_adapter(settings, data, target, config or TrainConfig(),
                           profile=profile, grounded=True, collection=profile.collection,
                           force=force, show_progress=show_progress, **extra)
    if isinstance(target, AdapterVersions) and not result.reused:
        # the sample's own adapter, retrained on the sample data: it serves without the eval gate
        target.promote(result.manifest["version"], action="quickstart")
        (report or _say)(f"{result.path.name} serves the sample profile (the quickstart's own adapter)")
    return result


def _refuse_other_adapter(out: Path, data: Path) -> None:
    """Retraining the sample adapter is fine; overwriting one trained on other data is not."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    trained_on = (read_manifest(out) or {}).get("data") or {}
    if trained_on.get("file") == str(data.resolve()) or trained_on.get("hash") == file_hash(data):
        return
    raise ValueError(f"{out} holds an adapter that was not trained on the sample data ({data.name}; it was "
                     f"trained on {trained_on.get('file') or 'unknown data'}); the quickstart will not overwrite it. "
                     "Move it, or give the sample profile another adapter folder.")


def _require_documents(settings: Settings, collection: str) -> None:
    from ingest.index import open_index

    if not open_index(settings, collection).list_documents():
        raise ValueError(f"collection {collection!r} is empty: index the documents first "
                         f"(`tenor ingest examples/larkfield/docs --collection {collection}`)")
