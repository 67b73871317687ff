"""Grounded training examples (the RAFT recipe), in the serving prompt format.

For each conversation, the question (``tenor.prompt.retrieval_query``, the
same query the server retrieves on) is looked up in the index:

- most examples get the top ``relevant`` passages for their question plus
  distractors (passages from *other* documents, drawn from what the other
  questions retrieved), shuffled, so the model learns to find the answer
  among noise; when ``max_context_tokens`` cannot hold them all, distractors
  are dropped first (the server's budget rule, applied before shuffling);
- a ``no_answer_fraction`` of them get distractors only, and their target
  becomes the profile's ``no_answer`` text, so the model learns to say the
  documents do not cover a question instead of guessing;
- examples whose own answer already says the documents do not cover the
  question get distractors only and keep their own answer;
- with ``evidence_tokens``, the passages are cut down to their evidence for
  the question (``tenor.evidence.select_evidence``, as the server does): the
  adapter trains on the short prompts it is served with;
- with ``cite``, the answers of examples with relevant passages get those
  passages' ``[n]`` markers (their numbers in the shuffled prompt), as the
  grounding rules in the prompt ask; otherwise the training targets would
  teach the model to ignore that rule.

Every choice is drawn from one ``random.Random(seed)``: the same data, index
and seed give the same examples. ``retrieve(query, k)`` is injected (the CLI
passes ``ingest.search`` bound to a collection), so this module needs no index.
"""

from __future__ import annotations

import random
import re
from typing import Callable, Sequence

from finetune.data import Example
from finetune.format import TrainExample
from tenor.answers import CITATION_MARKER, says_not_covered
from tenor.evidence import select_evidence
from tenor.prompt import build_prompt, retrieval_query

Retrieve = Callable[[str, int], Sequence]  # (query, k) -> passages, best first

_SENTENCE_END = re.compile(r"[.!?]+[\"')]*\s*$")


def with_citations(answer: str, numbers: Sequence[int]) -> str:
    """``answer`` with ``[n]`` markers at the end of its first paragraph (before
    its final punctuation), where the facts of a short support answer sit; a
    sign-off in a later paragraph stays as it is. Answers that already cite
    are left alone."""
    if not numbers or CITATION_MARKER.search(answer):
        return answer
    markers = "".join(f"[{n}]" for n in numbers)
    head, sep, rest = answer.partition("\n\n")
    body = head.rstrip()
    end = _SENTENCE_END.search(body)
    cut = end.start() if end else len(body)
    return f"{body[:cut]} {markers}{body[cut:]}{head[len(body):]}{sep}{rest}"


def _doc(passage) -> str:
    return getattr(passage, "document_id", None) or passage.source


def _key(passage) -> str:
    return getattr(passage, "chunk_id", None) or f"{_doc(passage)}\n{getattr(passage, 'full_text', passage.text)}"


def build_grounded_examples(
    examples: list[Example],
    *,
    retrieve: Retrieve,
    system_prompt: str,
    no_answer_text: str,
    max_context_tokens: int | None = None,
    evidence_tokens: int = 0,
    k: int = 4,
    relevant: int = 2,
    no_answer_fraction: float = 0.2,
    cite: bool = True,
    seed: int = 0,
) -> list[TrainExample]:
    """One :class:`TrainExample` per conversation, with ``k`` passages in its prompt."""
    if not 0 <= no_answer_fraction <= 1:
        raise ValueError("no_answer_fraction must be between 0 and 1")
    relevant = max(1, min(relevant, k))
    rng = random.Random(seed)

    conversations = [ex.messages[:-1] for ex in examples]
    hits = [list(retrieve(retrieval_query(conv), k)) for conv in conversations]

    # Distractor pool: every passage any question retrieved, in a stable order.
    pool: dict[str, object] = {}
    for found in hits:
        for passage in found:
            pool.setdefault(_key(passage), passage)
    pool_list = [pool[key] for key in sorted(pool)]
    if not pool_list:
        raise ValueError("grounded mode: retrieval found no passages; is the collection indexed? "
                         "(`tenor ingest PATH --collection NAME`)")

    own_no_answer = [says_not_covered(ex.messages[-1]["content"], no_answer_text) for ex in examples]
    eligible = [i for i, own in enumerate(own_no_answer) if not own]
    forced = set(rng.sample(eligible, round(no_answer_fraction * len(eligible))))

    built = []
    for i, (example, conv, found) in enumerate(zip(examples, conversations, hits)):
        distractors_only = own_no_answer[i] or i in forced
        gold = [] if distractors_only else found[:relevant]
        # Documents that answer this question must not appear as distractors.
        avoid = {_doc(p) for p in (found if distractors_only else gold)}
        candidates = [p for p in pool_list if _doc(p) not in avoid]
        distractors = rng.sample(candidates, min(k - len(gold), len(candidates)))
        # The context budget keeps passages in order: gold first, so that only
        # distractors are cut; then the survivors are shuffled.
        evidence = select_evidence(retrieval_query(conv), [*gold, *distractors], evidence_tokens)
        passages = list(build_prompt(system_prompt, conv, evidence, grounded=True,
                                     max_context_tokens=max_context_tokens).passages)
        rng.shuffle(passages)
        target = no_answer_text if i in forced else example.messages[-1]["content"]
        prompt = build_prompt(system_prompt, conv, passages, grounded=True,
                              max_context_tokens=max_context_tokens)
        if cite and gold:
            gold_keys = {_key(p) for p in gold}
            numbers = [n for n, p in enumerate(prompt.passages, start=1) if _key(p) in gold_keys]
            target = with_citations(target, numbers)
        built.append(TrainExample(
            line=example.line,
            messages=prompt.messages,
            target=target,
            passages=prompt.passages,  # those that fit the context budget
            no_answer=distractors_only,
        ))
    return built
