"""The eval's outputs: a terminal table, `report.json`, `report.md` and PNG charts."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from evaluation.runner import headline

# (key, column title, how to print it)
COLUMNS = [
    ("correctness", "correct", "pct"),
    ("citation_correctness", "cites source", "pct"),
    ("answered_cited", "answered, cites source", "pct"),
    ("unsupported_figures", "unsupported figures", "int"),
    ("loop_rate", "loops", "pct"),
    ("refusal_rate", "refuses unanswerable", "pct"),
    ("false_refusal_rate", "false refusals", "pct"),
    ("wrong_answer_rate", "answered wrongly", "pct"),
    ("voice_adherence", "voice", "pct"),
    ("recall@1", "recall@1", "ratio"),
    ("recall@5", "recall@5", "ratio"),
    ("dense_recall@1", "recall@1 dense", "ratio"),  # dense alone, against the profile's mode above
    ("dense_recall@5", "recall@5 dense", "ratio"),
    ("latency_p50_s", "p50 s", "sec"),
    ("latency_p95_s", "p95 s", "sec"),
    ("errors", "errors", "int"),
]
CHARTED = ["correctness", "citation_correctness", "refusal_rate", "false_refusal_rate", "voice_adherence"]


def _fmt(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value * 100:.0f}%"
    if kind == "ratio":
        return f"{value:.3f}"
    if kind == "sec":
        return f"{value:.2f}"
    return str(value)


def table(summary: dict[str, dict]) -> Table:
    """One column per configuration, one row per figure: fits an 80-column terminal."""
    out = Table("")
    for name in summary:
        out.add_column(name, justify="right")
    for key, title, kind in COLUMNS:
        out.add_row(title, *[_fmt(row.get(key), kind) for row in summary.values()])
    return out


def markdown(summary: dict[str, dict], meta: dict, records: list[dict], charts: list[str],
             gate: list[str] | None, freshness: dict | None) -> str:
    lines = [
        f"# Tenor eval: {meta['profile']}",
        "",
        f"{meta['questions']} questions ({meta['unanswerable']} unanswerable) from `{meta['question_set']}`, "
        f"server {meta['url']}, {meta['date']}. "
        + (f"Base profile: `{meta['base_profile']}`." if meta.get("base_profile") else "Served configuration only."),
        "",
        "| configuration | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for name, row in summary.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(k), kind) for k, _, kind in COLUMNS) + " |")
    lines += ["", "Correctness: every expected pattern matches (token-F1 where an item has none). "
              "Cites source: the answer's [n] markers point at the question's source document "
              "(of all answerable questions; 'answered, cites source': of those not refused). "
              "Unsupported figures: answers with a number, price, date, e-mail or phone number that no "
              "passage they cite contains (target 0). Loops: answers repeating a 4-word sequence 3+ times. "
              "Latency: whole streamed answer, requests "
              f"{meta['concurrency']} at a time.", ""]
    shown = headline(summary)
    lines += outcome_lines(shown, summary[shown])
    lines += [f"![{Path(c).stem}]({Path(c).name})" for c in charts]
    if any(Path(c).stem == "abstention" for c in charts):
        lines += ["", "Abstention: before generation the server refuses when no passage reaches `min_score` "
                  "or the evidence holds less than `min_coverage` of the question's key terms and no sentence "
                  "of it is `min_similarity` close to the question in meaning (and a `retrieval.reader`, where the "
                  "profile has one, does not say it answers it); the chart shows both rates over "
                  "`min_coverage`, at the profile's `min_score` and `min_similarity`, from the passages "
                  "`/v1/retrieve` returns, without the reader, the contact passage a question about reaching the "
                  "company gets or the second chance on the dense search's passages (`retrieval.dense_k`; "
                  "`python -m evaluation.calibrate` tunes them on half the questions and prints the "
                  "reader's probabilities)."]
    if freshness:
        lines += ["", "## Freshness", "", f"Edited `{freshness['document']}` ({freshness['find']!r} -> "
                  f"{freshness['replace']!r}), re-indexed through the API, asked {freshness['question']!r}.",
                  "", f"- before: {freshness['before']!r}", f"- after: {freshness['after']!r}",
                  f"- **{'passed' if freshness['passed'] else 'FAILED'}**: {freshness['verdict']}"]
    if gate is not None:
        lines += ["", "## Gate", ""] + ([f"- FAILED: {g}" for g in gate] or ["- all thresholds met"])
    lines += ["", f"## Answers ({shown})", ""]
    for r in records:
        if r["configuration"] == shown:
            text = (r["error"] or r["answer"]).replace("\n", " ")
            scores = {**({"outcome": r["outcome"]} if r.get("outcome") else {}), **r["scores"]}
            lines.append(f"- **{r['id']}** {r['question']} -> {text[:300]} `{json.dumps(scores)}`")
    return "\n".join(lines) + "\n"


def outcome_lines(name: str, row: dict) -> list[str]:
    """How the answers of ``name`` shipped, and who refused the answerable questions it refused."""
    lines = []
    if row.get("outcomes"):
        counts = ", ".join(f"{n} {o}" for o, n in sorted(row["outcomes"].items(), key=lambda kv: -kv[1]))
        lines.append(f"Answer policy ({name}): {counts} (shipped: the model's answer; extract: a quoted "
                     "extract replaced it; no_answer: the server's no-answer text; refused: the model "
                     "declined and no extract covered the question; annotated: the model's answer with [unverified] marks).")
    if row.get("false_refusals_by"):
        counts = ", ".join(f"{n} by the {who}" for who, n in sorted(row["false_refusals_by"].items()))
        lines.append(f"False refusals ({name}): {counts}.")
    return [*lines, ""] if lines else []


def abstention_chart(plt, curve: list[dict], current: dict | None, out: Path) -> str:
    """Refusal of unanswerable questions against false refusals, one point per min_coverage."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    points = [(r["false_refusal"] * 100, r["refusal"] * 100, r["min_coverage"]) for r in curve
              if r["refusal"] is not None and r["false_refusal"] is not None]
    ax.plot([p[0] for p in points], [p[1] for p in points], "o-",
            label=f"min_score {curve[0]['min_score']}, min_similarity {curve[0].get('min_similarity', '-')}")
    for x, y, c in points[::2]:
        ax.annotate(f"{c:.2f}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    if current and current.get("refusal") is not None and current.get("false_refusal") is not None:
        ax.plot([current["false_refusal"] * 100], [current["refusal"] * 100], "r*", markersize=14,
                label=f"profile: min_coverage {current['min_coverage']}")
    ax.set_xlabel("false refusals (answerable questions refused), %")
    ax.set_ylabel("unanswerable questions refused, %")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    ax.set_title("Abstention trade-off (labels: min_coverage)")
    return _save(plt, fig, ax, out / "abstention.png")


def charts(summary: dict[str, dict], out: Path, abstention: dict | None = None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    written = []
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [(summary[name].get(k) or 0) * 100 for k in CHARTED]
        ax.bar([x + i * width for x in range(len(CHARTED))], values, width, label=name)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(CHARTED))])
    ax.set_xticklabels([dict((k, t) for k, t, _ in COLUMNS)[k] for k in CHARTED])
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.set_title("Quality by configuration (false refusals: lower is better)")
    written.append(_save(plt, fig, ax, out / "quality.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    p50 = [summary[n].get("latency_p50_s") or 0 for n in names]
    p95 = [summary[n].get("latency_p95_s") or 0 for n in names]
    ax.bar([x - 0.2 for x in range(len(names))], p50, 0.4, label="p50")
    ax.bar([x + 0.2 for x in range(len(names))], p95, 0.4, label="p95")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("seconds per answer")
    ax.set_title("Latency by configuration")
    written.append(_save(plt, fig, ax, out / "latency.png"))
    if abstention and abstention.get("curve"):
        written.append(abstention_chart(plt, abstention["curve"], abstention.get("current"), out))
    return written


def _save(plt, fig, ax, path: Path) -> str:
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def write(out: Path, summary: dict, meta: dict, records: list[dict], gate: list[str] | None,
          freshness: dict | None, abstention: dict | None = None) -> dict[str, str]:
    """``abstention``: ``{"curve": [...], "current": {...}}`` from ``evaluation.calibrate``."""
    out.mkdir(parents=True, exist_ok=True)
    chart_files = charts(summary, out, abstention)
    (out / "report.json").write_text(json.dumps(
        {"meta": meta, "summary": summary, "gate": gate, "freshness": freshness, "abstention": abstention,
         "answers": records}, indent=2, default=str))
    (out / "report.md").write_text(markdown(summary, meta, records, chart_files, gate, freshness))
    return {"json": str(out / "report.json"), "markdown": str(out / "report.md"), "charts": chart_files}
