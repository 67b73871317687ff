"""`tenor eval`: base vs adapter, with and without retrieval, on one question set."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from tenor import console

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "larkfield" / "eval"
SAMPLE_PROFILE = "larkfield"  # the sample company's profile: the one the default question set is about

# option name -> (summary key, at least (True) or at most (False))
THRESHOLDS = {
    "min_correctness": ("correctness", True),
    "min_citation": ("citation_correctness", True),
    "min_voice": ("voice_adherence", True),
    "min_refusal": ("refusal_rate", True),
    "max_false_refusal": ("false_refusal_rate", False),
    "max_wrong": ("wrong_answer_rate", False),
    "min_recall": ("recall@5", True),
}


def gate(summary: dict[str, dict], limits: dict[str, float | None]) -> list[str]:
    """The thresholds the headline configuration (adapter+retrieval, or base+retrieval
    with --base-only) misses (empty: all met). ``max_errors`` counts failed requests
    in every configuration: one that failed skews the comparison whichever it was."""
    from evaluation.runner import headline

    row, failures = summary[headline(summary)], []
    errors = {name: r["errors"] for name, r in summary.items() if r["errors"]}
    if limits.get("max_errors") is not None and sum(errors.values()) > limits["max_errors"]:
        where = ", ".join(f"{name} {count}" for name, count in errors.items())
        failures.append(f"errors = {sum(errors.values())} ({where}), above --max-errors {limits['max_errors']}")
    for option, limit in limits.items():
        if limit is None or option == "max_errors":
            continue
        key, at_least = THRESHOLDS[option]
        value = row.get(key)
        if value is None or (value < limit if at_least else value > limit):
            failures.append(f"{key} = {value if value is None else round(value, 3)}, "
                            f"{'below' if at_least else 'above'} --{option.replace('_', '-')} {limit}")
    return failures


def run_eval(
    questions: Path = typer.Argument(SAMPLE / "questions.jsonl", help="question set (JSONL)"),
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="profile with the adapter (default: the default profile)"),
    base_profile: Optional[str] = typer.Option(None, "--base-profile", help="the same profile without an adapter (default: PROFILE-base)"),
    base_only: bool = typer.Option(False, "--base-only", help="only base and base+retrieval (judge a base model before training; PROFILE may have no adapter)"),
    served_only: bool = typer.Option(False, "--served-only", help="only adapter+retrieval, what Tenor serves (no base profile needed, so a one-profile config is served merged)"),
    url: Optional[str] = typer.Option(None, "--url", help="a running Tenor server (default: start one with its vLLM)"),
    key: Optional[str] = typer.Option(None, "--key", envvar="TENOR_API_KEY", help="API key (admin for --freshness)"),
    out: Path = typer.Option(Path("eval-report"), "--out", help="folder for report.json, report.md and charts"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="only the first N questions"),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="requests at a time"),
    max_tokens: int = typer.Option(200, "--max-tokens", min=1),
    freshness: bool = typer.Option(False, "--freshness", help="also edit a document, re-index, and check the next answer"),
    freshness_spec: Path = typer.Option(SAMPLE / "freshness.json", "--freshness-spec", help="what to edit and ask"),
    min_correctness: Optional[float] = typer.Option(None, help="gate: correctness at least"),
    min_citation: Optional[float] = typer.Option(None, help="gate: citation correctness at least"),
    min_voice: Optional[float] = typer.Option(None, help="gate: voice adherence at least"),
    min_refusal: Optional[float] = typer.Option(None, help="gate: refusal rate on unanswerable at least"),
    max_false_refusal: Optional[float] = typer.Option(None, help="gate: false refusal rate at most"),
    max_wrong: Optional[float] = typer.Option(None, help="gate: share of answerable questions answered wrongly at most"),
    min_recall: Optional[float] = typer.Option(None, help="gate: retrieval recall@5 at least"),
    max_errors: int = typer.Option(0, "--max-errors", min=0, help="gate: failed requests at most, all configurations together (each also counts as a wrong answer in every rate)"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as one JSON document on stdout"),
) -> None:
    """Score four configurations (base / adapter, without / with retrieval) on a question set.

    Gates (--min-*/--max-*) apply to adapter+retrieval (base+retrieval with --base-only;
    --served-only scores adapter+retrieval alone);
    --max-errors (default 0) to every configuration."""
    from evaluation import report
    from evaluation.freshness import check_freshness, check_target, load_spec
    from evaluation.calibrate import abstention_report, measure
    from evaluation.runner import (EvalError, TenorClient, answer_all, configurations, conversation, headline,
                                   load_question_set, measure_recall, records_as_dicts, score, summarise)
    from evaluation.server import started_server
    from tenor.prompt import approx_tokens
    from tenor.tokens import profile_meter

    settings = console.settings()
    limits = {"min_correctness": min_correctness, "min_citation": min_citation, "min_voice": min_voice,
              "min_refusal": min_refusal, "max_false_refusal": max_false_refusal, "max_wrong": max_wrong,
              "min_recall": min_recall, "max_errors": max_errors}
    if served_only and base_only:
        console.fail("--served-only and --base-only exclude each other: the first scores the adapter, the second the base")
    if served_only and base_profile:
        console.fail("--served-only scores the served configuration alone, with no base profile to compare: "
                     "drop --base-profile, or drop --served-only to compare the two")
    try:
        brand = settings.profile(profile)
        if base_only and not brand.adapter and not base_profile:
            base_profile = brand.name
        base = None if served_only else settings.profile(base_profile or f"{brand.name}-base")
    except Exception as exc:
        console.fail(f"{exc}. The eval compares a profile with an adapter against the same profile "
                     "without one: configure both and name them with --profile / --base-profile "
                     "(or score only the served configuration with --served-only)")
    if not brand.adapter and not base_only:
        console.fail(f"profile {brand.name!r} has no adapter; --profile must name the one with the adapter")
    if base and base.adapter:
        console.err.print(f"[yellow]warning:[/] base profile {base.name!r} has an adapter ({base.adapter})")
    try:
        items = load_question_set(questions)[:limit]
        spec = load_spec(freshness_spec) if freshness else None
    except (EvalError, OSError, ValueError) as exc:
        console.fail(str(exc))
    configs = configurations(brand.name, base and base.name, base_only, served_only)

    server = contextlib.nullcontext(url) if url else started_server(settings.logs_dir / "eval-server.log")
    try:
        with server as server_url:
            client = TenorClient(server_url, key)
            if spec:
                check_target(client, brand.name, spec)  # before the questions: a wrong spec fails at once
            console.err.print(f"server {server_url}; {len(items)} questions x {len(configs)} configurations")
            recall = measure_recall(client, brand.name, items)
            signals = measure(items, lambda item, k: client.retrieve(brand.name, conversation(item), k), brand,
                              count_tokens=approx_tokens if url else profile_meter(settings, brand).count,
                              closeness_to=local_closeness(settings, remote=bool(url)))
            with console.progress("answering", total=len(items) * len(configs), enabled=True) as advance:
                records = answer_all(client, items, configs, max_tokens=max_tokens,
                                     concurrency=concurrency, progress=advance)
            fresh = check_freshness(client, brand.name, spec, max_tokens) if spec else None
    except EvalError as exc:
        console.fail(str(exc))
    score(records, items, brand)
    summary = summarise(records, items, configs, recall)
    failures = gate(summary, limits)
    if fresh and not fresh["passed"]:
        failures = (failures or []) + [f"freshness: {fresh['verdict']}"]
    meta = {
        "profile": brand.name, "base_profile": base and base.name, "question_set": str(questions),
        "questions": len(items), "unanswerable": sum(1 for i in items if i.get("unanswerable")),
        "url": url or "started by tenor eval", "concurrency": concurrency, "max_tokens": max_tokens,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    written = report.write(out, summary, meta, records_as_dicts(records), failures, fresh,
                           abstention_report(signals, brand))

    console.err.print(report.table(summary))
    shown = headline(summary)
    for line in report.outcome_lines(shown, summary[shown]):
        if line:
            console.err.print(line, highlight=False)
    if fresh:
        console.err.print(f"freshness: {'passed' if fresh['passed'] else 'FAILED'} ({fresh['verdict']})")
    console.err.print(f"report: {written['markdown']}", highlight=False)
    for failure in failures or []:
        console.err.print(f"[bold red]gate failed:[/] {failure}", highlight=False)
    if as_json:
        console.print_json({"summary": summary, "gate": failures, "freshness": fresh, "files": written})
    if failures:
        raise typer.Exit(1)


def local_closeness(settings, *, remote: bool):
    """The embedder's closeness for the abstention curve: this machine's, with the server's settings
    when ``tenor eval`` starts the server; words only (None) for a server at --url, whose embedder
    may differ, or when this machine cannot load it."""
    from ingest.embedder import closeness, get_embedder

    if remote:
        console.err.print("abstention curve: words only (the server at --url embeds with its own settings)")
        return None
    try:
        embedder = get_embedder(settings.embed, settings.models_dir)
    except Exception as exc:  # a diagnostic curve must not cost the eval
        console.warn(f"abstention curve: words only, the embedder does not load here ({exc})")
        return None
    return lambda queries: closeness(embedder, queries)
