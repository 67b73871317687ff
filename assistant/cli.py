"""`tenor serve`, `tenor chat`, `tenor adapters load|promote|rollback`, `tenor feedback export`, `tenor gaps`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from tenor import console

UrlOpt = typer.Option(None, "--url", envvar="TENOR_URL", help="Tenor server (default: http://SERVER_HOST:SERVER_PORT)")
KeyOpt = typer.Option(None, "--key", envvar="TENOR_API_KEY",
                      help="API key (default: the generated $TENOR_HOME/admin.key, if any)")


def _url_and_key(url: str | None, key: str | None) -> tuple[str, str]:
    from assistant.auth import read_generated_key

    settings = console.settings()
    url = (url or f"http://{settings.server.host}:{settings.server.port}").rstrip("/")
    key = key or read_generated_key(settings) or (settings.api_keys[0].key if settings.api_keys else "none")
    return url, key


def serve(
    host: Optional[str] = typer.Option(None, "--host", help="address to listen on (default: server.host)"),
    port: Optional[int] = typer.Option(None, "--port", help="port (default: server.port)"),
    profile: Optional[str] = typer.Option(None, "--profile", help="serve only this profile"),
    no_auth: bool = typer.Option(False, "--no-auth", help="dev mode: no API keys, everyone is admin"),
    vllm_url: Optional[str] = typer.Option(None, "--vllm-url", help="use this vLLM instead of starting one"),
) -> None:
    """Run the OpenAI-compatible assistant server (starts and supervises vLLM)."""
    from assistant.server import only_profile
    from tenor.config import ConfigError

    settings = console.settings()
    if profile:
        try:
            settings = only_profile(settings, profile)
        except ConfigError as exc:
            console.fail(str(exc))
    run_server(settings, host, port, no_auth=no_auth, vllm_url=vllm_url)


def run_server(settings, host: str | None = None, port: int | None = None, *, no_auth: bool = False,
               vllm_url: str | None = None) -> None:
    """Serve with the CLI's output: vLLM progress, then the URL, the key and a curl example.

    What `tenor serve` and `tenor quickstart` call; blocks until Ctrl-C. Config
    problems end the command with a clear message (exit 1), not a traceback.
    """
    import logging

    from assistant.server import ServerInfo, StartupFailed
    from assistant.server import serve as serve_forever
    from assistant.vllm_process import VllmStartError
    from tenor.config import ConfigError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def ready(info: ServerInfo) -> None:
        console.err.print(f"[bold green]Tenor is serving[/] at {info.url}  (vLLM: {info.vllm_url})", highlight=False)
        if info.key_file:
            console.err.print(f"API key (admin): {info.key}  [dim](stored in {info.key_file})[/]", highlight=False)
        key = info.key or ("" if info.no_auth else "$TENOR_API_KEY")
        console.err.print(curl_example(info.url, key, settings.default_profile), highlight=False)
        console.err.print("Stop with Ctrl-C.", highlight=False)

    try:
        serve_forever(settings, host, port, no_auth=no_auth, vllm_url=vllm_url, on_ready=ready,
                      emit=lambda m: console.err.print(m, highlight=False))
    except (ConfigError, VllmStartError, StartupFailed) as exc:
        console.fail(str(exc))


def curl_example(url: str, key: str, model: str) -> str:
    auth = f" -H 'Authorization: Bearer {key}'" if key else ""
    return (f"Try it:\n  curl -s {url}/v1/chat/completions{auth} -H 'Content-Type: application/json' \\\n"
            f"    -d '{{\"model\": \"{model}\", \"messages\": [{{\"role\": \"user\", "
            f"\"content\": \"How long is the warranty?\"}}]}}'")


def chat(
    question: str = typer.Argument(..., help="what to ask"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="profile (default: the server's default)"),
    no_stream: bool = typer.Option(False, "--no-stream", help="wait for the whole answer"),
    url: Optional[str] = UrlOpt,
    key: Optional[str] = KeyOpt,
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens"),
) -> None:
    """Ask a running Tenor server a question; prints the answer and its sources."""
    import openai

    url, key = _url_and_key(url, key)
    model = model or console.settings().default_profile
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    messages = [{"role": "user", "content": question}]
    citations: list = []
    try:
        if no_stream:
            result = client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens)
            console.out.print(result.choices[0].message.content or "", highlight=False)
            citations = (result.model_extra or {}).get("citations") or []
        else:
            stream = client.chat.completions.create(model=model, messages=messages, stream=True,
                                                    max_tokens=max_tokens)
            for chunk in stream:
                citations = (chunk.model_extra or {}).get("citations") or citations
                for choice in chunk.choices:
                    if choice.delta.content:
                        console.out.print(choice.delta.content, end="", highlight=False, soft_wrap=True)
            console.out.print()
    except openai.APIConnectionError:
        console.fail(f"cannot reach a Tenor server at {url}: start one with `tenor serve`")
    except openai.APIStatusError as exc:
        console.fail(f"{exc.status_code}: {_message(exc)}")
    if citations:
        console.err.print("[bold]Sources[/]", highlight=False)
        for c in citations:
            where = " > ".join(str(x) for x in (c.get("section"), f"page {c['page']}" if c.get("page") else None) if x)
            console.err.print(f"  [{c['index']}] {c['document_id']}" + (f" ({where})" if where else "")
                              + f"  score {c['score']:.2f}", highlight=False)


def _message(exc) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else {}
    return str(body.get("message") or inner.get("message") or exc.message)


def adapters_load(
    name: str = typer.Argument(..., help="adapter name (the LoRA module name profiles use)"),
    path: Path = typer.Argument(..., help="adapter folder (as the vLLM server sees it)"),
    url: Optional[str] = UrlOpt,
    key: Optional[str] = KeyOpt,
) -> None:
    """Load a new adapter version into a running server, without a restart."""
    import httpx

    url, key = _url_and_key(url, key)
    folder = str(path.expanduser().resolve()) if path.expanduser().exists() else str(path)
    try:
        response = httpx.post(f"{url}/v1/admin/adapters", json={"name": name, "path": folder},
                              headers={"Authorization": f"Bearer {key}"}, timeout=300)
    except httpx.HTTPError as exc:
        console.fail(f"cannot reach a Tenor server at {url}: {exc}")
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text
        console.fail(f"{response.status_code}: {message}")
    body = response.json()
    users = ", ".join(body.get("profiles") or []) or "no profile yet"
    console.err.print(f"loaded adapter [bold]{name}[/] from {folder} (used by: {users})", highlight=False)


UrlsOpt = typer.Option(None, "--url", envvar="TENOR_URL",
                       help="the Tenor server(s) to evaluate on and swap, repeatable (default: "
                            "http://SERVER_HOST:SERVER_PORT if it answers, else one started for the eval)")


def adapters_promote(
    adapter: str = typer.Argument(..., help="the candidate version, NAME@N (see `tenor adapters list`)"),
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="profile whose adapter it is (default: the default profile)"),
    urls: Optional[list[str]] = UrlsOpt,
    key: Optional[str] = KeyOpt,
    questions: Path = typer.Option(None, "--questions",
                                   help="your question set (JSONL, as `tenor eval` takes; required but for the sample profile)"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="only the first N questions"),
    tolerance: float = typer.Option(0.05, "--tolerance", min=0, max=1,
                                    help="how much worse than the serving version a gated figure may be"),
    max_tokens: int = typer.Option(120, "--max-tokens", min=1),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64),
    as_json: bool = typer.Option(False, "--json", help="print the verdict as one JSON document on stdout"),
) -> None:
    """Promote a candidate adapter version through the eval gate: it answers the question set beside
    the serving version on the same server, and serves (hot swap, no restart) only when correctness,
    refusal, false refusal and voice are not worse beyond --tolerance."""
    import httpx

    from evaluation.cli import SAMPLE, SAMPLE_PROFILE
    from evaluation.promote import candidate_versions, judge
    from evaluation.runner import EvalError, load_question_set

    settings = console.settings()
    try:
        chosen = settings.profile(profile)
        candidate_versions(settings, adapter, chosen)  # clear errors before any server starts
        if questions is None and chosen.name != SAMPLE_PROFILE:
            raise ValueError(f"give --questions: your own question set for {chosen.name!r} (the default is the "
                             "sample company's, which would not tell two of your versions apart)")
        items = load_question_set(questions or SAMPLE / "questions.jsonl")[:limit]
    except (EvalError, ValueError, OSError) as exc:
        console.fail(str(exc))
    try:
        with _servers(urls, key) as clients:
            with console.progress("answering", total=2 * len(items), enabled=not as_json) as advance:
                verdict = judge(clients[0], settings, chosen, adapter, items, tolerance=tolerance,
                                max_tokens=max_tokens, concurrency=concurrency, progress=advance)
            changes = []
            for client in clients if verdict.passed else []:
                try:
                    changes.append(client.post("/v1/admin/adapters/promote",
                                               {"adapter": adapter, "gate": verdict.gate()}))
                except (EvalError, httpx.HTTPError) as exc:
                    swapped = ", ".join(c.url for c in clients[:len(changes)]) or "none"
                    raise EvalError(f"{client.url}: {exc} (already serving {adapter}: {swapped})") from None
    except (EvalError, ValueError, httpx.HTTPError) as exc:
        console.fail(str(exc))
    _print_verdict(verdict)
    if as_json:
        console.print_json({"passed": verdict.passed, "gate": verdict.gate(), "summary": verdict.summary})
    if not verdict.passed:
        console.err.print(f"[bold red]not promoted:[/] {verdict.candidate} is worse than {verdict.serving}, "
                          "which keeps serving", highlight=False)
        raise typer.Exit(1)
    console.err.print(f"promoted [bold]{adapter}[/]: it now serves profile(s) "
                      f"{', '.join(changes[0]['profiles'])} on {len(changes)} server(s), in place of "
                      f"{changes[0]['previous']} (`tenor adapters rollback` returns to it)", highlight=False)


def adapters_rollback(
    profile: Optional[str] = typer.Argument(None, help="profile to roll back (default: the default profile)"),
    urls: Optional[list[str]] = UrlsOpt,
    key: Optional[str] = KeyOpt,
) -> None:
    """Serve the adapter version promoted before the serving one again (hot swap, no restart)."""
    import httpx

    from evaluation.runner import EvalError
    from tenor.adapter_versions import AdapterVersions, split_ref

    settings = console.settings()
    try:
        chosen = settings.profile(profile)
        if not chosen.adapter:
            raise ValueError(f"profile {chosen.name!r} has no adapter")
        name, version = split_ref(chosen.adapter)
        if version is not None:
            raise ValueError(f"profile {chosen.name!r} pins {chosen.adapter}; edit its adapter setting instead")
        versions = AdapterVersions(settings.adapters_dir, name)
        target = versions.rollback_target()
        back = versions.ref(target)
        with _servers(urls, key, start=False) as clients:
            if not clients:  # no server runs: the history alone decides what the next start serves
                left, to = versions.rollback()
                console.err.print(f"no server answered; {versions.ref(to)} serves from the next start, "
                                  f"in place of {versions.ref(left)}", highlight=False)
                return
            change = clients[0].post("/v1/admin/adapters/rollback", {"name": name})
            for other in clients[1:]:  # the history is shared: the other replicas only swap
                other.post("/v1/admin/adapters/promote", {"adapter": f"{name}@{target}"})
    except (EvalError, ValueError, httpx.HTTPError) as exc:
        console.fail(str(exc))
    console.err.print(f"rolled back profile(s) {', '.join(change['profiles'])}: {back} serves again, "
                      f"in place of {change['previous']}", highlight=False)


@contextmanager
def _servers(urls: list[str] | None, key: str | None, start: bool = True):
    """Clients for the given servers; without any, the configured one if it answers, else (with
    ``start``) one started here for the duration (or none)."""
    import httpx

    from evaluation.runner import TenorClient
    from evaluation.server import started_server

    if urls:
        yield [TenorClient(*_url_and_key(url, key)) for url in urls]
        return
    url, key = _url_and_key(None, key)
    try:
        httpx.get(f"{url}/health", timeout=3)
    except httpx.HTTPError:
        if not start:
            yield []
            return
        console.err.print(f"no server at {url}; starting one (with its vLLM) for the eval", highlight=False)
        with started_server(console.settings().logs_dir / "promote-server.log") as started:
            yield [TenorClient(started)]
        return
    yield [TenorClient(url, key)]


def _print_verdict(verdict) -> None:
    from evaluation import report

    console.err.print(report.table(verdict.summary))
    for failure in verdict.failures:
        console.err.print(f"[bold red]gate:[/] {failure}", highlight=False)


def feedback_export(
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file to write (OpenAI chat format)"),
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="only this profile's answers"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON summary on stdout"),
) -> None:
    """Turn feedback into training data: corrected and liked answers become chat examples for
    `tenor finetune`; disliked answers without a correction are listed, not exported."""
    from assistant.conversation_log import ConversationLog, dumps, training_examples

    settings = console.settings()
    try:
        log = ConversationLog.from_settings(settings)
    except Exception as exc:  # a database that cannot be reached or opened
        console.fail(f"cannot open the conversation log: {exc}")
    examples, disliked = training_examples(log, profile)
    log.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(examples))
    summary = {"out": str(out), "examples": len(examples), "disliked": disliked}
    if as_json:
        console.print_json(summary)
        return
    console.err.print(f"wrote {len(examples)} examples to [bold]{out}[/]; "
                      f"{len(disliked)} disliked answers without a correction:", highlight=False)
    for row in disliked:
        console.err.print(f"  {row['response_id']}: {row['question'][:80]!r}"
                          + (f" ({row['comment']})" if row["comment"] else ""), highlight=False)


def gaps(
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="only this profile's questions"),
    threshold: float = typer.Option(0.7, "--threshold", min=0, max=1, help="cosine similarity that groups questions"),
    report: Optional[Path] = typer.Option(None, "--report", help="folder for report.md and gaps.png"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
) -> None:
    """Content gaps: questions the documents did not cover, grouped by meaning, and the most
    disliked answers (from the conversation log)."""
    from assistant.conversation_log import ConversationLog
    from assistant.gaps import content_gaps, markdown, save_chart
    from ingest.embedder import get_embedder

    settings = console.settings()
    try:
        log = ConversationLog.from_settings(settings)
    except Exception as exc:
        console.fail(f"cannot open the conversation log: {exc}")
    embedder = get_embedder(settings.embed, settings.models_dir)
    found = content_gaps(log, embedder.encode, profile, threshold=threshold)
    log.close()
    if report:
        report.mkdir(parents=True, exist_ok=True)
        chart = "gaps.png" if found.gaps else None
        if chart:
            save_chart(found, report / chart)
        (report / "report.md").write_text(markdown(found, chart))
        console.err.print(f"report written to [bold]{report / 'report.md'}[/]", highlight=False)
    if as_json:
        console.print_json(found.to_dict())
    elif not report:
        console.out.print(markdown(found), highlight=False)
