"""Load: N concurrent streaming clients against the real server and vLLM, then the same beside an ingest.

    python bench/load_bench.py [--clients 32] [--seconds 60] [--model larkfield-base] [--max-tokens 32]
                               [--ingest-docs 1000] [--home DIR] [--url URL --pid PID --key KEY]

Without ``--url`` it starts `tenor serve` itself (managed vLLM, the Larkfield sample
config, SmolLM2 + a test LoRA adapter, the sample documents indexed) in ``--home``
(default: a folder under /tmp, reused across runs). Two phases:

1. chat alone: ``--clients`` workers, each sending streamed chat requests back to back
   for ``--seconds`` (then finishing the request in flight);
2. chat beside an ingest: ``--ingest-docs`` small documents written to ``--home``/bulk/
   (the server started here allows it in ``server.reindex_roots``; with ``--url``, the
   server's config must) and indexed through the admin API (``POST /v1/documents/reindex``, into the
   same collection the chat searches; embedded Chroma belongs to the server process,
   so the ingest goes through it), while the same clients keep chatting until the
   ingest is done (at least ``--seconds``).

Each phase prints requests/s, TTFT p50/p99, and the outcome of every request: ok,
429 (deliberate: rate limits), or error (any other status, an in-band error event,
a stream without ``[DONE]``, a broken connection). Around each phase it prints the
server process's open file descriptors, sockets and RSS, read from /proc (psutil)
after a warm-up round at the same concurrency and after the run (clients closed).
The process exits 1 if any request failed, a phase leaked descriptors, or the ingest
did not complete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "larkfield"
ADMIN_KEY = "bench-admin-key-0001"

import httpx  # noqa: E402
import yaml  # noqa: E402

from tenor.net import free_port  # noqa: E402



def questions() -> list[str]:
    rows = [json.loads(line) for line in (EXAMPLES / "questions.jsonl").read_text().splitlines() if line.strip()]
    return [r["question"] for r in rows]


# -- a server of our own -------------------------------------------------------------------

def start_server(home: Path, extra_config: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`tenor serve` (managed vLLM) on the sample config in ``home``; returns (process, url) once ready."""
    from finetune.base_model import prepare_base_model
    from ingest.pipeline import ingest_paths
    from tenor.config import load_settings
    from tests.vllm_fixtures import make_test_adapter

    home.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((EXAMPLES / "tenor.yaml").read_text())
    port = free_port()
    config.update(api_keys=[{"key": ADMIN_KEY, "scope": "admin", "name": "bench"}],
                  server={"port": port}, vllm={"port": free_port(), "kv_cache_gb": 1})
    for key, value in (extra_config or {}).items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    (home / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    settings = load_settings(home / "config.yaml", environ={"TENOR_HOME": str(home)})
    base = prepare_base_model(settings)
    make_test_adapter(base, home / "adapters" / "larkfield-voice", seed=1)
    ingest_paths(settings, [EXAMPLES / "docs"], "larkfield")
    env = {**os.environ, "TENOR_HOME": str(home), "TENOR_CONFIG": str(home / "config.yaml")}
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tenor.cli", "serve"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while time.monotonic() - started < 900:
        if proc.poll() is not None:
            raise RuntimeError(f"tenor serve exited: {(home / 'serve.log').read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                print(f"server ready at {url} in {time.monotonic() - started:.0f} s (pid {proc.pid})", flush=True)
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("tenor serve did not become ready")


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(10)


# -- resources -----------------------------------------------------------------------------

def resources(pid: int) -> dict:
    """Open fds, sockets (all, and TCP established) and RSS of the server process, from /proc."""
    import psutil

    proc = psutil.Process(pid)
    fds = os.listdir(f"/proc/{pid}/fd")
    sockets = sum(1 for fd in fds if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"))
    established = sum(1 for c in proc.net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED)
    return {"fds": len(fds), "sockets": sockets, "tcp_established": established,
            "rss_mb": proc.memory_info().rss / 2**20, "threads": proc.num_threads()}


def settle(pid: int, seconds: float = 3.0) -> dict:
    time.sleep(seconds)  # closed client sockets and finished worker threads go away
    return resources(pid)


# -- the load ------------------------------------------------------------------------------

@dataclass
class Outcomes:
    ok: int = 0
    rate_limited: int = 0
    errors: list[str] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    tokens: int = 0
    started: float = 0.0
    ended: float = 0.0

    @property
    def total(self) -> int:
        return self.ok + self.rate_limited + len(self.errors)

    def summary(self) -> dict:
        seconds = max(1e-9, self.ended - self.started)
        ttft = sorted(self.ttft)

        def pct(p):
            return ttft[min(len(ttft) - 1, int(p * len(ttft)))] * 1000 if ttft else float("nan")

        return {"requests": self.total, "ok": self.ok, "rate_limited_429": self.rate_limited,
                "errors": len(self.errors), "seconds": round(seconds, 1),
                "requests_per_s": round(self.total / seconds, 3), "ok_per_s": round(self.ok / seconds, 3),
                "ttft_p50_ms": round(statistics.median(ttft) * 1000, 1) if ttft else None,
                "ttft_p99_ms": round(pct(0.99), 1) if ttft else None,
                "completion_chunks_per_s": round(self.tokens / seconds, 1),
                "first_errors": self.errors[:5]}


async def one_request(client: httpx.AsyncClient, url: str, key: str, body: dict, out: Outcomes) -> None:
    started = time.perf_counter()
    first = None
    done = False
    chunks = 0
    try:
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {key}"}) as response:
            if response.status_code == 429:
                await response.aread()
                out.rate_limited += 1
                return
            if response.status_code != 200:
                out.errors.append(f"HTTP {response.status_code}: {(await response.aread())[:300]!r}")
                return
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    out.errors.append(f"in-band error: {chunk['error'].get('message')}")
                    return
                if any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                    chunks += 1
                    if first is None:
                        first = time.perf_counter() - started
    except (httpx.HTTPError, ValueError) as exc:
        out.errors.append(f"{type(exc).__name__}: {exc}")
        return
    if not done:
        out.errors.append("stream ended without [DONE]")
        return
    out.ok += 1
    out.tokens += chunks
    if first is not None:
        out.ttft.append(first)


async def drive(url: str, key: str, clients: int, seconds: float, model: str, max_tokens: int,
                until: threading.Event | None = None, rounds: int | None = None) -> Outcomes:
    """``clients`` workers sending back to back until ``seconds`` passed (and ``until`` is set, if given),
    or for ``rounds`` requests each."""
    qs = questions()
    out = Outcomes(started=time.perf_counter())
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=httpx.Timeout(900, connect=10), limits=limits) as client:
        async def worker(i: int) -> None:
            n = 0
            while True:
                if rounds is not None:
                    if n >= rounds:
                        return
                elif time.monotonic() >= deadline and (until is None or until.is_set()):
                    return
                body = {"model": model, "stream": True, "max_tokens": max_tokens, "temperature": 0,
                        "messages": [{"role": "user", "content": qs[(i + n * clients) % len(qs)]}]}
                await one_request(client, url, key, body, out)
                n += 1

        await asyncio.gather(*(worker(i) for i in range(clients)))
    out.ended = time.perf_counter()
    return out


def run_phase(name: str, url: str, key: str, pid: int | None, clients: int, seconds: float, model: str,
              max_tokens: int, until: threading.Event | None = None, on_start=None) -> dict:
    asyncio.run(drive(url, key, clients, 0, model, max_tokens, rounds=1))  # warm-up: pools at this size
    before = settle(pid) if pid else None
    if on_start:
        on_start()
    out = asyncio.run(drive(url, key, clients, seconds, model, max_tokens, until=until))
    after = settle(pid) if pid else None
    result = {"phase": name, "clients": clients, **out.summary(), "before": before, "after": after}
    print_phase(result)
    return result


def print_phase(r: dict) -> None:
    print(f"\n== {r['phase']}: {r['clients']} streaming clients, {r['seconds']} s")
    print(f"   requests {r['requests']} (ok {r['ok']}, 429 {r['rate_limited_429']}, errors {r['errors']}); "
          f"{r['requests_per_s']} req/s; TTFT p50 {r['ttft_p50_ms']} ms, p99 {r['ttft_p99_ms']} ms; "
          f"{r['completion_chunks_per_s']} streamed tokens/s")
    for e in r["first_errors"]:
        print(f"   error: {e}")
    if r["before"]:
        b, a = r["before"], r["after"]
        print(f"   server fds {b['fds']} -> {a['fds']}, sockets {b['sockets']} -> {a['sockets']}, "
              f"TCP established {b['tcp_established']} -> {a['tcp_established']}, "
              f"RSS {b['rss_mb']:.0f} -> {a['rss_mb']:.0f} MiB, threads {b['threads']} -> {a['threads']}", flush=True)


def leaked(r: dict, slack: int = 4) -> bool:
    b, a = r["before"], r["after"]
    return bool(b) and (a["fds"] > b["fds"] + slack or a["sockets"] > b["sockets"] + slack)


def write_docs(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"bulk-{i:04}.md").write_text(
            f"# Workshop note {i}\n\nSpare part LK-{i:04} fits the Fold F1 hinge, batch {i % 17}. "
            f"Torque it to {20 + i % 9} Nm and check it every {100 + i % 50} km.\n")
    return folder


def ingest_beside(url: str, key: str, folder: Path, done: threading.Event, result: dict) -> None:
    started = time.perf_counter()
    try:
        r = httpx.post(f"{url}/v1/documents/reindex", json={"path": str(folder), "model": "larkfield"},
                       headers={"Authorization": f"Bearer {key}"}, timeout=3600)
        result.update(status=r.status_code, body=r.json() if r.headers.get("content-type", "").startswith(
            "application/json") else r.text[:300])
    except httpx.HTTPError as exc:
        result.update(status=None, body=str(exc))
    result["seconds"] = round(time.perf_counter() - started, 1)
    done.set()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--model", default="larkfield-base",
                    help="profile to chat with (larkfield-base: no LoRA; on a CPU the LoRA prefill of 32 grounded "
                         "prompts takes minutes, see docs/server.md)")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--ingest-docs", type=int, default=1000)
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "tenor-load-bench")
    ap.add_argument("--url")
    ap.add_argument("--pid", type=int, help="the server's pid (with --url), for the fd/RSS figures")
    ap.add_argument("--key", default=ADMIN_KEY)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    proc = None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        proc, url = start_server(args.home, {"server": {"reindex_roots": [str(args.home / "bulk")]}})
        pid = proc.pid
    results = []
    try:
        results.append(run_phase("chat alone", url, args.key, pid, args.clients, args.seconds, args.model,
                                 args.max_tokens))
        if args.ingest_docs:
            folder = write_docs(args.home / "bulk" / str(int(time.time())), args.ingest_docs)
            done, ingest = threading.Event(), {}
            thread = threading.Thread(target=ingest_beside, args=(url, args.key, folder, done, ingest), daemon=True)
            phase = run_phase(f"chat beside an ingest of {args.ingest_docs} documents", url, args.key, pid,
                              args.clients, args.seconds, args.model, args.max_tokens, until=done,
                              on_start=thread.start)
            thread.join()
            body = ingest.get("body")
            print(f"   ingest: HTTP {ingest.get('status')} in {ingest.get('seconds')} s: "
                  f"{json.dumps(body) if isinstance(body, dict) else body}", flush=True)
            phase["ingest"] = ingest
            results.append(phase)
    finally:
        if proc is not None:
            code = stop_server(proc)
            print(f"\nserver stopped with SIGTERM: exit {code}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    failed = any(r["errors"] or leaked(r) for r in results)
    ingest = results[-1].get("ingest") if len(results) > 1 else None
    if ingest is not None:
        body = ingest.get("body")
        failed |= not (ingest.get("status") == 200 and isinstance(body, dict)
                       and body.get("failed") == 0 and body.get("added", 0) + body.get("unchanged", 0) >= args.ingest_docs)
    print("\nRESULT:", "FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
