"""Load and validate chat fine-tuning data (OpenAI's JSONL format).

One conversation a line::

    {"messages": [{"role": "system", "content": "..."},      # optional
                  {"role": "user", "content": "..."},
                  {"role": "assistant", "content": "..."}]}

Roles are ``system``, ``user`` and ``assistant``; content is a non-empty
string (or a list of ``{"type": "text", "text": ...}`` parts, joined). The
conversation must contain a user turn and end with an assistant turn. As in
OpenAI's format, an assistant message may carry ``"weight": 0`` to keep it in
the context but out of the loss. Blank lines are ignored; other keys are
tolerated.

Every problem names the file, the line and the reason. Structural problems are
found here; the length limit needs the tokenizer and is checked when the
examples are formatted (``finetune.format``), with the same kind of report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("system", "user", "assistant")


@dataclass
class Example:
    """One valid conversation and where it came from."""

    line: int
    messages: list[dict]

    def key(self) -> str:
        """Identity for duplicate detection (roles and contents, whitespace-trimmed)."""
        return json.dumps([[m["role"], m["content"].strip()] for m in self.messages])


@dataclass
class Problem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class DataReport:
    """What loading found: valid examples, skipped lines, duplicates dropped."""

    file: str
    examples: list[Example] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # lines skipped as invalid
    duplicates: list[Problem] = field(default_factory=list)  # lines dropped as repeats

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "examples": len(self.examples),
            "skipped": [str(p) for p in self.problems],
            "duplicates": [str(p) for p in self.duplicates],
        }


class DataError(Exception):
    """Invalid training data; ``problems`` lists every bad line."""

    def __init__(self, problems: list[Problem], hint: str = "") -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        noun = "line" if len(problems) == 1 else "lines"
        super().__init__(f"{len(problems)} invalid {noun}:\n{shown}{more}{hint}")


SKIP_HINT = "\n(fix them, or pass --skip-invalid to train on the valid lines only)"


def file_hash(path: Path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _content(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in value
    ):
        return "".join(p["text"] for p in value)
    return None


def parse_line(text: str) -> list[dict]:
    """The validated messages of one JSONL line; raises ValueError with the reason."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError('expected a JSON object like {"messages": [...]}')
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError('missing "messages": expected a non-empty list of messages')

    clean: list[dict] = []
    for i, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise ValueError(f"message {i} is not an object")
        role = message.get("role")
        if role not in ROLES:
            raise ValueError(f"message {i}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
        content = _content(message.get("content"))
        if content is None:
            raise ValueError(f"message {i} ({role}): content must be a string")
        if not content.strip():
            raise ValueError(f"message {i} ({role}): empty content")
        if role == "system" and any(m["role"] != "system" for m in clean):
            raise ValueError(f"message {i}: a system message must come before the conversation")
        item = {"role": role, "content": content}
        if role == "assistant" and "weight" in message:
            if message["weight"] not in (0, 1):
                raise ValueError(f"message {i}: weight must be 0 or 1")
            item["weight"] = int(message["weight"])
        clean.append(item)

    turns = [m for m in clean if m["role"] != "system"]
    if not any(m["role"] == "user" for m in turns):
        raise ValueError("no user message")
    if turns[-1]["role"] != "assistant":
        raise ValueError(f"does not end with an assistant turn (last role: {turns[-1]['role']})")
    if turns[-1].get("weight") == 0:
        raise ValueError("the final assistant turn has weight 0: nothing to learn")
    return clean


def load_examples(path: Path | str, *, skip_invalid: bool = False) -> DataReport:
    """Read and validate ``path``. Raises :class:`DataError` naming every bad line,
    unless ``skip_invalid``, which skips them and lists them in the report.
    Exact duplicates (same roles and contents) are dropped, keeping the first,
    so a repeated conversation cannot sit in both the train and eval split."""
    path = Path(path)
    if not path.is_file():
        raise DataError([Problem(str(path), 0, "file not found")])
    report = DataReport(file=str(path))
    seen: dict[str, int] = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise ValueError("not valid UTF-8") from None
                example = Example(line=number, messages=parse_line(text))
            except ValueError as exc:
                report.problems.append(Problem(str(path), number, str(exc)))
                continue
            key = example.key()
            if key in seen:
                report.duplicates.append(Problem(str(path), number, f"duplicate of line {seen[key]}"))
                continue
            seen[key] = number
            report.examples.append(example)
    if report.problems and not skip_invalid:
        raise DataError(report.problems, SKIP_HINT)
    if not report.examples:
        raise DataError([Problem(str(path), 0, "no valid conversations")])
    return report
