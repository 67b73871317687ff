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
    ("refusal_rate", "refuses unanswerable", "pct"),
    ("false_refusal_rate", "false refusals", "pct"),
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
        f"server {meta['url']}, {meta['date']}. Base profile: `{meta['base_profile']}`.",
        "",
        "| configuration | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for name, row in summary.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(k), kind) for k, _, kind in COLUMNS) + " |")
    lines += ["", "Correctness: every expected pattern matches (token-F1 where an item has none). "
              "Cites source: the answer's [n] markers point at the question's source document. "
              "Latency: whole streamed answer, requests "
              f"{meta['concurrency']} at a time.", ""]
    lines += [f"![{Path(c).stem}]({Path(c).name})" for c in charts]
    if freshness:
        lines += ["", "## Freshness", "", f"Edited `{freshness['document']}` ({freshness['find']!r} -> "
                  f"{freshness['replace']!r}), re-indexed through the API, asked {freshness['question']!r}.",
                  "", f"- before: {freshness['before']!r}", f"- after: {freshness['after']!r}",
                  f"- **{'passed' if freshness['passed'] else 'FAILED'}**: {freshness['verdict']}"]
    if gate is not None:
        lines += ["", "## Gate", ""] + ([f"- FAILED: {g}" for g in gate] or ["- all thresholds met"])
    shown = headline(summary)
    lines += ["", f"## Answers ({shown})", ""]
    for r in records:
        if r["configuration"] == shown:
            text = (r["error"] or r["answer"]).replace("\n", " ")
            lines.append(f"- **{r['id']}** {r['question']} -> {text[:300]} `{json.dumps(r['scores'])}`")
    return "\n".join(lines) + "\n"


def charts(summary: dict[str, dict], out: Path) -> list[str]:
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
    return written


def _save(plt, fig, ax, path: Path) -> str:
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def write(out: Path, summary: dict, meta: dict, records: list[dict], gate: list[str] | None,
          freshness: dict | None) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    chart_files = charts(summary, out)
    (out / "report.json").write_text(json.dumps(
        {"meta": meta, "summary": summary, "gate": gate, "freshness": freshness, "answers": records},
        indent=2, default=str))
    (out / "report.md").write_text(markdown(summary, meta, records, chart_files, gate, freshness))
    return {"json": str(out / "report.json"), "markdown": str(out / "report.md"), "charts": chart_files}
