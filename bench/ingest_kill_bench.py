"""Ingest killed with SIGKILL at random points, N times: every re-run converges to a clean run's state.

    python bench/ingest_kill_bench.py [--repeats 20] [--docs 120] [--seed 7] [--root DIR]

Each repetition changes the corpus a little (edits a few documents, deletes one, adds
one), starts `ingest_paths(..., prune=True)` in a subprocess on the same data directory,
kills it with SIGKILL at a random moment of its run (uniform over the time a full run
takes, measured first), re-runs the ingest to completion, and compares the index with
a clean ingest of the same corpus into a fresh directory: the same document ids,
chunk ids, content hashes and texts, nothing duplicated, nothing left over. Prints one
line per repetition and exits 1 on the first mismatch. The CI version is
tests/ingest/test_durability.py (3 kills, TENOR_KILL_REPEATS to change).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

INGEST = ("import sys; from ingest.pipeline import ingest_paths; from tenor.config import Settings; "
          "ingest_paths(Settings(home=sys.argv[1], embed={'batch_size': 4}), [sys.argv[2]], prune=True)")


def snapshot(settings) -> list[tuple]:
    from ingest.index import open_index

    got = open_index(settings, "default").collection.get(include=["metadatas", "documents"])
    return sorted((cid, m["document_id"], m["content_hash"], doc)
                  for cid, m, doc in zip(got["ids"], got["metadatas"], got["documents"]))


def write_doc(path: Path, i: int, revision: int = 0) -> None:
    path.write_text(f"# Document {i}\n\n" + " ".join(
        f"Fact {j} of document {i} (revision {revision}) about bikes and batteries." for j in range(60)))


def run_ingest(home: Path, corpus: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", INGEST, str(home), str(corpus)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--docs", type=int, default=120)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--root", type=Path, default=None)
    args = ap.parse_args()

    from ingest.pipeline import ingest_paths
    from tenor.config import Settings

    root = args.root or Path(tempfile.mkdtemp(prefix="tenor-kill-bench-"))
    corpus = root / "docs"
    corpus.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    for i in range(args.docs):
        write_doc(corpus / f"doc{i:03}.md", i)
    next_id = args.docs

    killed_home = root / "killed"
    started = time.monotonic()
    full = run_ingest(root / "timing", corpus)
    full.wait()
    full_s = time.monotonic() - started
    print(f"{args.docs} documents; a full ingest subprocess takes {full_s:.1f} s (start-up included)", flush=True)

    total_chunks = 0
    for rep in range(1, args.repeats + 1):
        docs = sorted(corpus.iterdir())
        for path in rng.sample(docs, k=max(1, len(docs) // 10)):  # edit ~10%
            write_doc(path, int(path.stem[3:]), revision=rep)
        rng.choice(docs).unlink()  # one vanishes (prune removes it)
        write_doc(corpus / f"doc{next_id:03}.md", next_id)  # one is new
        next_id += 1

        proc = run_ingest(killed_home, corpus)
        kill_after = rng.uniform(0.05, 1.0) * full_s
        time.sleep(kill_after)
        finished_first = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        converge = time.monotonic()
        ingest_paths(Settings(home=killed_home), [corpus], prune=True)
        converge_s = time.monotonic() - converge

        clean_home = root / f"clean-{rep}"
        ingest_paths(Settings(home=clean_home), [corpus])
        got, want = snapshot(Settings(home=killed_home)), snapshot(Settings(home=clean_home))
        shutil.rmtree(clean_home)
        ids = [row[0] for row in got]
        same = got == want and len(ids) == len(set(ids))
        total_chunks = len(want)
        print(f"[{rep:2}/{args.repeats}] killed after {kill_after:5.1f} s"
              f"{' (it had already finished)' if finished_first else ''}; re-run {converge_s:5.1f} s; "
              f"{len(got)} chunks vs clean {len(want)}; documents {len({r[1] for r in got})}: "
              f"{'IDENTICAL' if same else 'MISMATCH'}", flush=True)
        if not same:
            extra = sorted(set(got) - set(want))[:5]
            missing = sorted(set(want) - set(got))[:5]
            print(f"   extra: {[r[:3] for r in extra]}\n   missing: {[r[:3] for r in missing]}")
            return 1
    print(f"\nRESULT: PASS: {args.repeats} SIGKILLs at random points, every re-run identical to a clean run "
          f"({total_chunks} chunks; document ids, chunk ids, content hashes and texts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
