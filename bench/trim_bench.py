"""Trimming a long conversation to the context window, with the real SmolLM2 tokenizer.

    python bench/trim_bench.py [--model DIR] [--repeats 5]

For 100, 1,000 and 10,000 short turns (about 135 bytes each, user and
assistant alternating, as a widget conversation grows), times what the server
does before it calls vLLM with ``retrieval: false``:
``GroundingService.ground``, i.e. ``build_prompt`` trimming the turns to the
prompt budget of a 2,048-token window with 512 tokens reserved for the answer.
Counts with SmolLM2-135M-Instruct's own tokenizer and chat template
(``tenor.tokens``); ``--model`` defaults to the prepared model under
``$TENOR_HOME/models`` (``tenor model prepare``).

Prints, per size, the median time over ``--repeats`` runs, the tokenizer calls
and the turns kept. Trimming reads the newest turns first and stops at the
budget, so its cost grows at most linearly with the turns sent.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from assistant.grounding import GroundingService  # noqa: E402
from tenor.prompt import TokenMeter  # noqa: E402
from tenor.tokens import token_meter  # noqa: E402
from tenor.config import EMBEDDED_BASE_MODEL, Settings, load_settings  # noqa: E402

SIZES = (100, 1_000, 10_000)


def conversation(turns: int) -> list[dict]:
    """``turns`` messages of about 135 bytes, ending with a user turn."""
    out = []
    for i in range(turns - 1, -1, -1):
        if i % 2 == 0:
            out.append({"role": "user", "content": f"Question {i}: how long does the battery of the "
                                                   f"Commuter C2 last on a cold morning ride to work?"})
        else:
            out.append({"role": "assistant", "content": f"Answer {i}: about 60 km in summer and "
                                                        f"roughly 45 km below freezing, by our tests [1]."})
    return out


def counting(meter: TokenMeter) -> tuple[TokenMeter, list[int]]:
    calls = [0]

    def count(text: str) -> int:
        calls[0] += 1
        return meter.count(text)

    return TokenMeter(count=count, tail=meter.tail, per_message=meter.per_message,
                      per_prompt=meter.per_prompt), calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="base model folder (tokenizer.json + chat template)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings()
    folder = args.model or settings.models_dir / EMBEDDED_BASE_MODEL
    if not (folder / "tokenizer.json").is_file():
        sys.exit(f"{folder}: no tokenizer.json; run `tenor model prepare` or pass --model")
    meter, calls = counting(token_meter(folder))
    settings = Settings(home=settings.home)  # default window (2,048) and answer reserve (512)
    grounding = GroundingService(settings, index_for=lambda name: None, meter_for=lambda profile: meter)
    profile = settings.profile()
    print(f"model {folder}: {meter.per_message} template tokens a message, {meter.per_prompt} a prompt; "
          f"budget {grounding.prompt_budget(None)} prompt tokens")
    print(f"{'turns':>7} {'KB':>7} {'median ms':>10} {'tokenizer calls':>16} {'turns kept':>11}")
    for turns in SIZES:
        conv = conversation(turns)
        size_kb = sum(len(m["content"].encode()) for m in conv) / 1000
        times = []
        for _ in range(args.repeats):
            calls[0] = 0
            started = time.perf_counter()
            grounded = grounding.ground(profile, conv, retrieval=False)
            times.append(time.perf_counter() - started)
        kept = len(grounded.messages) - 1
        print(f"{turns:>7,} {size_kb:>7.0f} {statistics.median(times) * 1000:>10.1f} {calls[0]:>16,} {kept:>11,}")


if __name__ == "__main__":
    main()
