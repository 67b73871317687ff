"""Turn conversations into training tokens: the served prompt, then the answer.

Each example's prompt is built by ``tenor.prompt.build_prompt`` (the one
prompt builder the server uses) and rendered with the base model's own chat
template, with ``add_generation_prompt=True`` and tokenized without added
special tokens: exactly what vLLM does with the messages the server sends it.
The answer follows as the template writes an assistant turn (for SmolLM2's
ChatML: ``answer<|im_end|>``), so the model learns to stop where vLLM stops.

Loss: on assistant tokens only. Every assistant turn of a multi-turn
conversation is learned (the final one, and earlier ones inside the prompt,
found through the template's own rendering of each prefix), except turns
marked ``"weight": 0``. System, user, passage and template tokens get label
-100 and cost nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Sequence

from finetune.data import DataError, Example, Problem
from tenor.prompt import build_prompt

IGNORE = -100  # the label value that torch's cross-entropy skips


@dataclass
class TrainExample:
    """One conversation shaped as the server would serve it, plus its target."""

    line: int
    messages: list[dict]  # what the server sends to vLLM: system first, ends with a user turn
    target: str  # the assistant answer to learn
    passages: list = field(default_factory=list)  # grounded mode: the passages in the prompt
    no_answer: bool = False  # grounded mode: only distractors, target says the docs do not cover it


@dataclass
class Features:
    line: int
    input_ids: list[int]
    labels: list[int]
    prompt_text: str  # the served prompt, as vLLM renders it

    def __len__(self) -> int:
        return len(self.input_ids)


def served_messages(system_prompt: str, conversation: Sequence[dict], passages=None, *,
                    max_context_tokens: int | None = None) -> list[dict]:
    """The messages the server sends for ``conversation``: plain without
    ``passages``, grounded (numbered passages in the system message) with them."""
    if passages is None:
        return build_prompt(system_prompt, conversation, grounded=False).messages
    return build_prompt(system_prompt, conversation, passages, grounded=True,
                        max_context_tokens=max_context_tokens).messages


def plain_examples(examples: list[Example], system_prompt: str) -> list[TrainExample]:
    """Non-grounded mode: the profile's system prompt + the conversation so far."""
    return [
        TrainExample(line=ex.line, messages=served_messages(system_prompt, ex.messages[:-1]),
                     target=ex.messages[-1]["content"])
        for ex in examples
    ]


def _wire(messages: Sequence[dict]) -> list[dict]:
    # Only role and content reach vLLM (no "weight" or other training keys).
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def render(tokenizer, messages: Sequence[dict], *, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(
        _wire(messages), tokenize=False, add_generation_prompt=generation_prompt
    )


def _history_spans(tokenizer, messages: Sequence[dict], prompt_text: str) -> list[tuple[int, int]]:
    """Character spans, in ``prompt_text``, of earlier assistant turns to learn."""
    spans = []
    for j, message in enumerate(messages):
        if message["role"] != "assistant" or message.get("weight") == 0:
            continue
        before = render(tokenizer, messages[:j], generation_prompt=True)
        through = render(tokenizer, messages[: j + 1], generation_prompt=False).rstrip()
        # Templates that rewrite history (e.g. drop earlier reasoning) are not
        # prefix-stable; such turns stay context only.
        if through.startswith(before) and prompt_text.startswith(through):
            spans.append((len(before), len(through)))
    return spans


def format_example(tokenizer, example: TrainExample) -> Features:
    """Token ids and labels for one example; labels are -100 outside assistant text."""
    prompt_text = render(tokenizer, example.messages, generation_prompt=True)
    full_text = render(
        tokenizer, [*example.messages, {"role": "assistant", "content": example.target}],
        generation_prompt=False,
    )
    if not full_text.startswith(prompt_text):
        raise ValueError("the chat template renders the prompt differently once an answer follows")
    # The answer and the template's end-of-turn marker; trailing newlines after
    # it belong to the next turn's framing, which the server never generates.
    completion_text = full_text[len(prompt_text):].rstrip()

    encoded = tokenizer(prompt_text, add_special_tokens=False, return_offsets_mapping=True)
    prompt_ids = list(encoded["input_ids"])
    labels = [IGNORE] * len(prompt_ids)
    for start, end in _history_spans(tokenizer, example.messages, prompt_text):
        for i, (s, e) in enumerate(encoded["offset_mapping"]):
            if s >= start and e <= end and e > s:
                labels[i] = prompt_ids[i]

    completion_ids = list(tokenizer(completion_text, add_special_tokens=False)["input_ids"])
    return Features(line=example.line, input_ids=prompt_ids + completion_ids,
                    labels=labels + completion_ids, prompt_text=prompt_text)


def format_examples(tokenizer, examples: list[TrainExample], *, max_seq_len: int, file: str,
                    skip_invalid: bool = False) -> tuple[list[Features], list[Problem]]:
    """Format every example; those over ``max_seq_len`` tokens are errors (file,
    line, length) or, with ``skip_invalid``, returned as skipped problems."""
    features, problems = [], []
    for example in examples:
        item = format_example(tokenizer, example)
        if len(item) > max_seq_len:
            problems.append(Problem(file, example.line, (
                f"{len(item)} tokens after formatting with the chat template, over the "
                f"maximum sequence length of {max_seq_len} (raise --max-seq-len or shorten it)"
            )))
            continue
        features.append(item)
    if problems and not skip_invalid:
        from finetune.data import SKIP_HINT

        raise DataError(problems, SKIP_HINT)
    return features, problems


def features_hash(features: list[Features]) -> str:
    """Identity of exactly what would be trained on (tokens and loss mask)."""
    digest = hashlib.sha256()
    for item in features:
        digest.update(json.dumps([item.input_ids, item.labels]).encode())
    return "sha256:" + digest.hexdigest()
