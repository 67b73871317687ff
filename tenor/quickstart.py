"""`tenor quickstart`: the whole product on the sample company, from nothing.

Steps, each idempotent (a second run reuses what the first one made):
  1. config: the sample config becomes $TENOR_HOME/config.yaml (unless one exists),
     with a widget key for this machine's demo page;
  2. model: the profile's base model is converted into an HF folder (the embedded
     SmolLM2, or a packaged larger base the profile names);
  3. index: the sample documents are indexed into the sample profile's collection;
  4. search: one retrieval query, to show the index answering;
  5. adapter: the brand-voice LoRA adapter is trained (or reused);
  6. serve: the assistant server starts, with vLLM, and a curl example is printed.

The quickstart writes only into the sample profile's collection and adapter
folder. Over a config whose profiles would put those in another assistant's
way (no sample profile, another collection or adapter, a profile sharing them),
it says what it would do and stops before changing anything (exit 1).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import typer

from tenor import console
from tenor.config import Settings, config_path, load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "larkfield"
SAMPLE_QUERY = "How long is the warranty on the battery?"


def _step(number: int, text: str) -> None:
    console.err.print(f"\n[bold cyan]{number}.[/] [bold]{text}[/]", highlight=False)


def install_sample_config(port: int | None = None) -> Path:
    """Write the sample config (plus a local widget key) to the config file if there is none."""
    target = config_path()
    if not target.exists():
        if not (EXAMPLE / "tenor.yaml").is_file():
            console.fail(f"{EXAMPLE}: sample company not found; run the quickstart from a clone of the repository")
        target.parent.mkdir(parents=True, exist_ok=True)
        port = port or load_settings(EXAMPLE / "tenor.yaml").server.port
        target.write_text((EXAMPLE / "tenor.yaml").read_text() + local_widget_key(port))
        console.err.print(f"   wrote {target} (the sample company's profiles, a widget key for "
                          f"http://127.0.0.1:{port}/demo)", highlight=False)
    else:
        console.err.print(f"   using {target}", highlight=False)
    return target


def local_widget_key(port: int) -> str:
    """The config lines for a widget key that lets this machine's /demo page chat."""
    origins = f'["http://127.0.0.1:{port}", "http://localhost:{port}"]'
    return (f"\n# Written by `tenor quickstart`: a publishable widget key for the demo page on this machine\n"
            f"# (http://127.0.0.1:{port}/demo). Widget keys are public, so Tenor still generates an admin key\n"
            f"# ($TENOR_HOME/admin.key) while no chat or admin key is listed here.\n"
            f"api_keys:\n  - key: pk-local-{secrets.token_urlsafe(12)}\n    scope: widget\n"
            f"    name: local-demo\n    origins: {origins}\n")


def sample_config(settings: Settings) -> Settings:
    """The sample config (no environment overrides) with its data where ``settings`` keeps it."""
    return load_settings(EXAMPLE / "tenor.yaml", environ={"TENOR_HOME": str(settings.home)})


def sample_profile_conflicts(settings: Settings) -> list[str]:
    """Why the quickstart may not write the sample into this config's data (none: it may).

    The sample profile is the sample config's default one; the quickstart may touch only
    its collection and its adapter folder, so both must be the sample's and no other
    profile may use them.
    """
    sample = sample_config(settings)
    want = sample.profile()
    ours = settings.profiles.get(want.name)
    if ours is None:
        return [f"it has no profile {want.name!r} (the sample company's)"]
    problems = []
    if ours.collection != want.collection:
        problems.append(f"profile {want.name!r} uses collection {ours.collection!r}, not the sample's "
                        f"{want.collection!r}")
    adapter = settings.resolve_adapter(want.adapter)
    if not ours.adapter or settings.resolve_adapter(ours.adapter) != adapter:
        problems.append(f"profile {want.name!r} uses adapter {ours.adapter!r}, not the sample's {want.adapter!r}")
    for name, other in settings.profiles.items():
        if name in sample.profiles:
            continue
        if other.collection == want.collection:
            problems.append(f"profile {name!r} also uses collection {want.collection!r}")
        if other.adapter and settings.resolve_adapter(other.adapter) == adapter:
            problems.append(f"profile {name!r} also uses adapter {want.adapter!r}")
    return problems


def _refuse(settings: Settings, problems: list[str], train: bool, serve: bool) -> None:
    want = sample_config(settings).profile()
    plan = [f"index the sample documents ({EXAMPLE / 'docs'}) into collection {want.collection!r}"]
    if train:
        plan.append(f"train the sample voice into {settings.resolve_adapter(want.adapter)}")
    if serve:
        plan.append("start the assistant server on this config")
    console.fail(
        f"{config_path()} is not the sample company's config: " + "; ".join(problems) + ".\n"
        "The quickstart would:\n" + "".join(f"  - {step}\n" for step in plan)
        + "It writes only into the sample profile's own collection and adapter, so it stops here; nothing "
        "was changed.\nTry the sample in a data directory of its own:  TENOR_HOME=~/tenor-sample tenor quickstart"
    )


def quickstart(
    train: bool = typer.Option(True, "--train/--no-train", help="train (or reuse) the brand-voice adapter"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="start the assistant server at the end"),
    port: int = typer.Option(None, "--port", help="server port (default: the configured one)"),
) -> None:
    """Set up the sample company end to end: model, index, adapter, server."""
    from finetune.base_model import PACKAGED, ModelPrepError, prepare_base_model
    from ingest.index import open_index
    from ingest.pipeline import discover, ingest_paths

    _step(1, "Configuration")
    install_sample_config(port)
    try:
        settings = load_settings()
    except Exception as exc:  # ConfigError, shown plainly
        console.fail(str(exc))
    problems = sample_profile_conflicts(settings)
    if problems:
        _refuse(settings, problems, train, serve)
    profile = settings.profile(sample_config(settings).default_profile)
    console.err.print(f"   data directory {settings.home}; profile {profile.name!r}", highlight=False)

    _step(2, "Base model")
    packaged = profile.base_model if profile.base_model in PACKAGED else None  # else the embedded SmolLM2
    try:
        model_dir = prepare_base_model(settings, name=packaged,
                                       report=lambda s: console.err.print(f"   {s}", highlight=False))
    except ModelPrepError as exc:
        console.fail(str(exc))
    console.err.print(f"   {model_dir}", highlight=False)

    _step(3, f"Index the sample documents into collection {profile.collection!r}")
    docs = EXAMPLE / "docs"
    files, _ = discover([docs])
    with console.progress("   indexing", total=len(files)) as advance:
        summary = ingest_paths(settings, [docs], profile.collection, on_progress=advance)  # no prune: keep others
    console.err.print(
        f"   {summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.failed} failed; {summary.chunks} chunks in {summary.seconds:.1f}s", highlight=False,
    )

    _step(4, f"Search: {SAMPLE_QUERY!r}")
    passages = open_index(settings, profile.collection).search(SAMPLE_QUERY, k=3, mode=profile.retrieval.mode)
    for rank, passage in enumerate(passages, 1):
        where = passage.section or (f"page {passage.page}" if passage.page else "")
        snippet = " ".join(passage.text.split())[:110]
        console.err.print(f"   {rank}. {passage.score:.3f} {passage.document_id} > {where}\n      {snippet}…",
                          highlight=False)

    if train:
        _step(5, "Brand-voice adapter")
        _train_adapter(settings, profile)
    if serve:
        _step(6, "Assistant server")
        _serve(settings, port)


def _train_adapter(settings, profile) -> None:
    from finetune.cli import report_heldout
    from finetune.quickstart import ensure_sample_adapter

    try:
        result = ensure_sample_adapter(settings, profile.name,
                                       report=lambda m: console.err.print(f"   {m}", highlight=False))
    except ValueError as exc:
        console.fail(str(exc))
    metrics = result.manifest.get("metrics", {})
    console.err.print(f"   {'reused' if result.reused else 'trained'} {result.path}  "
                      f"(eval loss {metrics.get('eval_loss', '-')})", highlight=False)
    report_heldout(metrics.get("heldout"))


def _serve(settings, port) -> None:
    from assistant.cli import run_server

    run_server(settings, port=port)
