"""Voice adherence as served: held-out prompts -> the served prompt -> generate -> rules.

The prompt is the one the server builds: the profile's passages retrieved for
the conversation (top ``k``), then ``tenor.prompt.build_prompt``
with the profile's system prompt and context budget, rendered with the base
model's chat template. Generation here uses transformers (greedy, batched with
left padding); serving itself is vLLM's job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from tenor.answers import voice_adherence
from tenor.config import Profile, Settings
from tenor.evidence import select_evidence, served_query
from tenor.prompt import build_prompt

Retrieve = Callable[[str, int], Sequence]


def load_prompts(path: Path | str) -> list[list[dict]]:
    """Conversations (without a final answer) from a JSONL file of ``{"messages": [...]}``."""
    prompts = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            messages = json.loads(line)["messages"]
            if messages[-1]["role"] == "assistant":
                messages = messages[:-1]
            prompts.append(messages)
    return prompts


def index_retriever(settings: Settings, collection: str) -> Retrieve:
    from ingest import search

    return lambda query, k: search(query, k=k, collection=collection, settings=settings)


def served_messages(profile: Profile, conversation: list[dict], retrieve: Retrieve | None) -> list[dict]:
    """The messages the server sends to vLLM for ``conversation`` (grounded when
    ``retrieve`` is given). One difference: the server answers a question with
    no passage above ``min_score`` with the canned ``no_answer`` text, without
    the model; here the model answers every prompt (with the top ``k``
    passages' evidence), so every figure measures the model."""
    if retrieve is None:
        return build_prompt(profile.system_prompt, conversation, grounded=False).messages
    query = served_query(conversation, profile.voice.phrases())
    found = select_evidence(query, retrieve(query, profile.retrieval.k), profile.retrieval.evidence_tokens)
    return build_prompt(profile.system_prompt, conversation, found, grounded=True,
                        max_context_tokens=profile.retrieval.max_context_tokens).messages


def generate(model, tokenizer, prompts: list[list[dict]], *, max_new_tokens: int = 160,
             batch_size: int = 10) -> list[str]:
    """Greedy answers to chat ``prompts`` (lists of messages), in order."""
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    return generate_texts(model, tokenizer, texts, max_new_tokens=max_new_tokens, batch_size=batch_size)


def generate_texts(model, tokenizer, prompts: list[str], *, max_new_tokens: int = 160,
                   batch_size: int = 10) -> list[str]:
    """Greedy answers to rendered prompts (chat template applied, generation prompt included)."""
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    answers = []
    try:
        for start in range(0, len(prompts), batch_size):
            texts = prompts[start:start + batch_size]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            with torch.inference_mode():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
            width = batch["input_ids"].shape[1]
            answers += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return [a.strip() for a in answers]


def adherence(answers: list[str], rules) -> dict:
    """Share of answers following every voice rule, with each answer's verdict."""
    verdicts = [voice_adherence(a, rules) for a in answers]
    passed = sum(ok for ok, _ in verdicts)
    return {
        "adherence": passed / len(answers) if answers else 0.0,
        "passed": passed,
        "total": len(answers),
        "answers": [{"text": a, "ok": ok, "reasons": r} for a, (ok, r) in zip(answers, verdicts)],
    }


def heldout_check(model, tokenizer, examples: Sequence, profile: Profile, *, limit: int = 5,
                  max_new_tokens: int = 120) -> dict:
    """The new adapter answers a few held-out conversations with the prompt it will be
    served (``examples``: TrainExample, grounded or plain): is the voice there, and is
    what it states in the passages it was given (``tenor.verify``)? A bad adapter shows
    here, before it serves. Examples whose passages hold no answer are left out."""
    from finetune.format import render
    from tenor.verify import attribute, checkable

    chosen = [e for e in examples if not e.no_answer][:limit]
    if not chosen:
        return {"answers": 0}
    texts = [render(tokenizer, e.messages, generation_prompt=True) for e in chosen]
    answers = generate_texts(model, tokenizer, texts, max_new_tokens=max_new_tokens, batch_size=min(limit, 10))
    voice = adherence(answers, profile.voice)
    rows = []
    for example, answer, verdict in zip(chosen, answers, voice["answers"]):
        passages = [checkable({"text": getattr(p, "full_text", p.text), "section": getattr(p, "section", None)})
                    for p in example.passages]
        groundedness = attribute(answer, passages).groundedness if passages else None
        rows.append({"line": example.line, "answer": answer, "voice": verdict["ok"],
                     "voice_reasons": verdict["reasons"], "groundedness": groundedness})
    scored = [r["groundedness"] for r in rows if r["groundedness"] is not None]
    return {"answers": len(rows), "voice": voice["adherence"],
            "groundedness": round(sum(scored) / len(scored), 3) if scored else None, "rows": rows}
