"""Content gaps: what customers asked that the documents did not cover, and what they disliked. No HTTP here.

The questions answered with the profile's no-answer text are embedded with the
index's own embedder and grouped by meaning: each question joins the first
group whose centroid is within ``threshold`` cosine similarity, else starts
one. Groups are listed largest first, with examples, so a support team knows
which document to write next. Disliked answers (latest rating: down) come
with their comments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from assistant.conversation_log import ConversationLog


@dataclass
class Gap:
    count: int
    examples: list[str]
    first_seen: float
    last_seen: float


@dataclass
class GapReport:
    profile: str | None
    unanswered: int
    gaps: list[Gap] = field(default_factory=list)
    disliked: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def cluster(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Greedy grouping of unit vectors by cosine similarity to each group's centroid."""
    groups: list[list[int]] = []
    centroids: list[np.ndarray] = []
    for i, vector in enumerate(vectors):
        scores = [float(vector @ (c / np.linalg.norm(c))) for c in centroids]
        best = int(np.argmax(scores)) if scores else -1
        if best >= 0 and scores[best] >= threshold:
            groups[best].append(i)
            centroids[best] = centroids[best] + vector
        else:
            groups.append([i])
            centroids.append(vector.astype(np.float64))
    return groups


def content_gaps(log: ConversationLog, embed, profile: str | None = None, *, threshold: float = 0.7,
                 examples: int = 3, disliked: int = 20) -> GapReport:
    """``embed(texts) -> unit vectors`` (the index's embedder)."""
    unanswered = [e for e in log.exchanges(profile) if e.outcome == "no_answer"]
    report = GapReport(profile=profile, unanswered=len(unanswered))
    if unanswered:
        vectors = np.asarray(embed([e.question for e in unanswered]), dtype=np.float64)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        for members in sorted(cluster(vectors, threshold), key=len, reverse=True):
            rows = [unanswered[i] for i in members]
            distinct = list(dict.fromkeys(r.question for r in rows))
            report.gaps.append(Gap(count=len(rows), examples=distinct[:examples],
                                   first_seen=min(r.created_at for r in rows), last_seen=max(r.created_at for r in rows)))
    latest = {}
    for rated in log.rated(profile):
        latest[rated.exchange.id] = rated
    downs = [r for r in latest.values() if r.feedback.rating == "down"]
    report.disliked = [{"response_id": r.exchange.id, "question": r.exchange.question, "answer": r.exchange.answer,
                        "comment": r.feedback.comment, "corrected": bool(r.feedback.correction)}
                       for r in sorted(downs, key=lambda r: r.feedback.created_at, reverse=True)[:disliked]]
    return report


def markdown(report: GapReport, chart: str | None = None) -> str:
    lines = [f"# Content gaps{f' ({report.profile})' if report.profile else ''}", "",
             f"{report.unanswered} questions the documents did not cover, in {len(report.gaps)} groups.", ""]
    if chart:
        lines += [f"![questions per gap]({chart})", ""]
    if report.gaps:
        lines += ["| asked | examples |", "|---:|---|"]
        lines += [f"| {g.count} | {' / '.join(e.replace('|', '/') for e in g.examples)} |" for g in report.gaps]
    lines += ["", f"## Disliked answers ({len(report.disliked)})", ""]
    for d in report.disliked:
        lines.append(f"- **{d['question']}** - {d['answer'][:200]}" + (f" _({d['comment']})_" if d["comment"] else ""))
    return "\n".join(lines) + "\n"


def save_chart(report: GapReport, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = report.gaps[:10]
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * max(1, len(top))))
    labels = [g.examples[0][:60] for g in top][::-1]
    ax.barh(labels, [g.count for g in top][::-1], color="#2f6fde")
    ax.set_xlabel("times asked")
    ax.set_title("Questions the documents did not cover")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
