"""Grounding: which passages an answer rests on, and the prompt that carries them.

No HTTP here, so a test or the CLI can call it directly. For one request it

1. retrieves on the conversation, not just the last turn (``tenor.evidence.served_query``:
   a follow-up such as "and how much is it?" keeps the earlier question's topic);
2. keeps passages scoring at least the profile's ``min_score`` (and, for a follow-up
   such as "what's the weight limit for its rack?", only those about its subject:
   ``retrieval.follow_ups_keep_subject``); a question about reaching the company
   ("what's your email?") gets the best passage with contact details too, whatever its score;
3. selects the evidence (``tenor.evidence.gather``): the passages' sentences
   and table rows that share key terms with the question, within
   ``retrieval.evidence_tokens``; when those hold too few of its terms, chosen
   again with meaning counted (the embedder's cosine similarity);
4. decides answerability from three signals: a passage above ``min_score``,
   the evidence containing at least ``min_coverage`` of the question's key
   terms or one sentence meaning what it asks (``min_similarity``) or, when
   neither, a reader model saying it contains the answer (``retrieval.reader``,
   ``tenor.reader``), and no
   name in the question (a word capitalized mid-sentence) that
   the collection never mentions (``retrieval.refuse_unknown_names``).
   Otherwise the answer is the profile's ``no_answer`` text (in the
   brand voice) and the model is not asked to guess (the third signal, the
   verifier's verdict on the answer, is applied in ``chat_service``). A question
   refused on the hybrid passages is judged again, by the same rules, on the dense
   search's best ``retrieval.dense_k`` passages not among them (``_dense_extras``);
5. builds the prompt with ``tenor.prompt.build_prompt`` (the same builder
   fine-tuning uses) within the model's context window: passages and old turns
   are trimmed by token budget, never rejected for length;
6. numbers the passages that made it into the prompt; those are the
   candidate citations (the answer's verification keeps those it uses).
"""

from __future__ import annotations

import reprlib
import time
from functools import cache
from dataclasses import dataclass, field
from typing import Callable

from assistant.protocol import Citation
from ingest.embedder import closeness
from tenor.config import Profile, Settings
from tenor.evidence import (CONTACT_WORDS, about_contact, gather, has_contact_details, names, on_subject, said,
                            served_query)
from tenor.prompt import TokenMeter, build_prompt
from tenor.reader import OnRead, Reader, asked, for_profile, needs_reading
from tenor.tokens import profile_meter
from tenor.verify import states_asked

PROMPT_MARGIN_TOKENS = 64  # slack: a token merged or split where the template meets a message


_SHORT = reprlib.Repr()  # an error may quote the client's filter, never all 100,000 values of it
_SHORT.maxstring = _SHORT.maxother = 200


def _reaches_us(text: str, question: str) -> bool:
    """Whether ``text`` holds the contact details ``question`` asks for (``states_asked``: a phone
    number to "what's your phone number?"), or any phone number or e-mail address. Not held to
    a duration: "Call 0800 123 4567, Mon-Fri 9-5" reaches us for "how long are your lines open?"."""
    return has_contact_details(text) and states_asked(text, question, durations=False)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class GroundingError(Exception):
    """The request cannot be grounded as asked (e.g. an invalid metadata filter)."""


@dataclass
class ReadTokens:
    """The prompt tokens of the reader's reads for one answer (the gate's and the quotes'), so its
    usage reports what the key is charged for them; each read's are also passed to ``charge``."""
    charge: OnRead | None = None
    total: int = 0

    def __call__(self, tokens: int) -> None:
        self.total += tokens
        if self.charge is not None:
            self.charge(tokens)


@dataclass
class Grounded:
    messages: list[dict]
    citations: list[dict] = field(default_factory=list)
    no_answer: str | None = None  # set: answer with this text, without the model
    query: str = ""
    question: str = ""  # the last user turn
    retrieval_s: float = 0.0
    evidence_s: float = 0.0
    trimmed_turns: int = 0
    evidence: list = field(default_factory=list)  # what the prompt carries, numbered from 1 like citations
    coverage: float | None = None  # share of the question's key terms the evidence chosen by words contains
    similarity: float | None = None  # the closest evidence sentence's cosine similarity (set when words fell short)
    unknown_names: list[str] = field(default_factory=list)  # names in the question no document mentions
    read: float | None = None  # the reader's probability that the evidence answers it (set when it was asked)
    conversation: list[dict] = field(default_factory=list)  # what the reader reads the question from
    quotes_read: dict = field(default_factory=dict)  # quote -> whether the reader says it answers (one read per quote)
    read_tokens: ReadTokens = field(default_factory=ReadTokens, repr=False, compare=False)  # the reads' prompt tokens


def citation(index: int, passage) -> dict:
    """A passage as the client sees it: its whole text, even when the prompt carried only its evidence."""
    return Citation(
        index=index, document_id=passage.document_id, section=passage.section, page=passage.page,
        text=getattr(passage, "full_text", passage.text), score=round(float(passage.score), 4), url=public_url(passage),
        dense_score=_rounded(getattr(passage, "dense_score", None)),
        lexical_score=_rounded(getattr(passage, "lexical_score", None)),
        fused_score=_rounded(getattr(passage, "fused_score", None)),
    ).model_dump()


def _rounded(score: float | None) -> float | None:
    return None if score is None else round(float(score), 4)


def public_url(passage) -> str | None:
    """The passage's document page, if it has one; only http(s), so no link can run script."""
    url = (getattr(passage, "metadata", None) or {}).get("url")
    return url if isinstance(url, str) and url.lower().startswith(("https://", "http://")) else None


class GroundingService:
    def __init__(self, settings: Settings, index_for: Callable[[str], object],
                 meter_for: Callable[[Profile], TokenMeter] | None = None,
                 reader_for: Callable[[Settings, Profile], Reader | None] = for_profile):
        self.settings = settings
        self.index_for = index_for  # collection name -> ingest Index
        self.meter_for = meter_for or self.base_model_meter
        self.reader_for = reader_for  # (settings, profile) -> its Reader, or None

    def reader(self, profile: Profile) -> Reader | None:
        """The profile's reader (``retrieval.reader``), or None when it has none."""
        return self.reader_for(self.settings, profile)

    def quote_reader(self, profile: Profile, grounded: Grounded) -> Callable[[str], bool] | None:
        """Whether the profile's reader says a quote of the evidence answers the question
        (``tenor.verify.apply_policy``'s ``reads`` for a question the reader let in, its
        ``confirms`` for one the words did; each quote read once, whatever the number of
        choices); None when the profile has no reader."""
        if self.reader(profile) is None:
            return None
        said_of = grounded.quotes_read  # shared by the answer's choices
        question, earlier = asked(grounded.conversation)

        def reads(quote: str) -> bool:
            if quote not in said_of:
                said_of[quote] = (self.reader(profile)(question, quote, earlier, grounded.read_tokens)
                                  >= profile.retrieval.reader_threshold)
            return said_of[quote]
        return reads

    def base_model_meter(self, profile: Profile) -> TokenMeter:
        """Counts with the profile's own base model (tokenizer and chat template), loaded once."""
        return profile_meter(self.settings, profile)

    def retrieve(self, profile: Profile, conversation: list[dict], k: int | None = None,
                 filters: dict | None = None, mode: str | None = None) -> tuple[list, str, float]:
        """Top-k passages for the conversation (all scores), the query used, seconds taken;
        ``mode`` (hybrid or dense) overrides the profile's."""
        from ingest.index import IndexUnavailable, IndexStoreError

        started = time.perf_counter()
        try:  # the subject's names are looked up in the index too: an outage there is one as well
            index = self.index_for(profile.collection)
            query = served_query(conversation, profile.voice.phrases(), lambda words: index.unmentioned(words))
            passages = index.search(
                query, k=k or profile.retrieval.k, filters=filters or None,
                mode=mode or profile.retrieval.mode)
        except IndexUnavailable:
            raise
        except IndexStoreError as exc:
            if filters:
                raise GroundingError(f"invalid filters {_SHORT.repr(filters)}: {_short(str(exc))}") from exc
            raise
        return passages, query, time.perf_counter() - started

    def contact_details(self, profile: Profile, question: str, filters: dict | None = None) -> list:
        """For a question about reaching the company, the best passage with the contact details
        it asks for (a phone number to "what's your phone number?", else a phone number or an e-mail
        address), at most one, whatever its score: a contact section lists many ways to reach a
        company, so it scores low against "what's your email?" and often misses ``min_score``.
        Retrieved with ``CONTACT_WORDS`` added to the question: its scores are that query's."""
        query = [{"role": "user", "content": f"{question} {CONTACT_WORDS}"}]
        found, _, _ = self.retrieve(profile, query, k=2 * profile.retrieval.k, filters=filters)
        return [p for p in found if _reaches_us(p.text, question)][:1]

    def relevant(self, profile: Profile, passages: list) -> list:
        return [p for p in passages if p.score >= profile.retrieval.min_score]

    def _kept(self, profile: Profile, conversation: list[dict], passages: list) -> list:
        """The relevant passages, less those about a follow-up's rival subject."""
        passages = self.relevant(profile, passages)
        if profile.retrieval.follow_ups_keep_subject and len(conversation) > 1:
            passages = on_subject(passages, conversation, self.index_for(profile.collection).headings())
        return passages

    def _dense_extras(self, profile: Profile, conversation: list[dict], filters: dict | None,
                      found: list) -> tuple[list, float]:
        """Of the dense search's best ``retrieval.dense_k`` passages, those kept and not among
        ``found``, and the search's seconds: a second chance for a question refused on the hybrid
        passages. Said in other words than the documents' ("will you charge me if I quit?"), it
        gets its passage ranked low by BM25, and the fusion puts it under passages both searches
        rank middling; meaning alone ranks it high."""
        dense, _, seconds = self.retrieve(profile, conversation, k=profile.retrieval.dense_k, filters=filters,
                                          mode="dense")
        have = {p.chunk_id for p in found}
        return [p for p in self._kept(profile, conversation, dense) if p.chunk_id not in have], seconds

    def prompt_budget(self, max_tokens: int | None) -> int:
        reserve = max_tokens or self.settings.server.default_max_tokens
        window = self.settings.vllm.max_model_len
        return max(64, window - min(reserve, window // 2) - PROMPT_MARGIN_TOKENS)

    def ground(self, profile: Profile, conversation: list[dict], *, retrieval: bool = True,
               filters: dict | None = None, max_tokens: int | None = None,
               on_read: OnRead | None = None) -> Grounded:
        """The prompt and evidence for the conversation's answer, or the no-answer text
        (``on_read``: told the prompt tokens of each read, here and by ``quote_reader``; their sum is
        the ``Grounded``'s ``read_tokens.total``)."""
        tally = ReadTokens(on_read)
        budget = self.prompt_budget(max_tokens)
        if not retrieval:
            prompt = build_prompt(profile.system_prompt, conversation, grounded=False,
                                  max_prompt_tokens=budget, tokens=self.meter_for(profile))
            return Grounded(messages=prompt.messages, trimmed_turns=prompt.trimmed_turns, read_tokens=tally)

        passages, query, seconds = self.retrieve(profile, conversation, filters=filters)
        started = time.perf_counter()
        passages = self._kept(profile, conversation, passages)
        last = next((m["content"] for m in reversed(conversation) if m.get("role") == "user"), "")
        contact = []  # the passage with the contact details a question about reaching the company asks for
        if about_contact(last) and not any(_reaches_us(p.text, last) for p in passages):
            contact = self.contact_details(profile, last, filters)
            passages = [*passages, *contact]
        rules = profile.retrieval
        unknown = self.index_for(profile.collection).unmentioned(names(last)) if rules.refuse_unknown_names else []
        # a name no document mentions is refused anyway: no embedding; else the question is embedded once
        meaning = None if unknown else cache(lambda: closeness(self.index_for(profile.collection).embedder,
                                                              [last, query]))

        def judged(found: list, one_by_one: bool = False) -> tuple[list, float, float | None, float | None, bool]:
            """(evidence, coverage, similarity, read, admitted) of the passages ``found``."""
            evidence, covered, similarity = gather(
                query, [query, last], found, rules.evidence_tokens, self.meter_for(profile).count,
                min_coverage=rules.min_coverage, min_similarity=rules.min_similarity, meaning=meaning)
            admitted, read = said(covered, similarity, rules.min_coverage, rules.min_similarity), None
            if needs_reading(evidence, covered, similarity, unknown, rules):
                reader = self.reader(profile)
                read = (reader.reads_each(conversation, evidence, rules.reader_threshold, tally) if one_by_one
                        else reader.reads(conversation, evidence, tally))
                admitted = read >= rules.reader_threshold
            return evidence, covered, similarity, read, admitted

        evidence, covered, similarity, read, admitted = judged(passages)
        searched_again = 0.0  # seconds: retrieval's, not the evidence step's
        if not admitted and not unknown and rules.dense_k and rules.mode == "hybrid":
            more, searched_again = self._dense_extras(profile, conversation, filters, passages)
            second = judged([*more, *contact], one_by_one=True) if more else None  # each passage read alone
            if second and second[-1]:  # admitted: answered from these
                evidence, covered, similarity, read, admitted = second
        seconds += searched_again
        evidence_s = time.perf_counter() - started - searched_again
        if not evidence or not admitted or unknown:
            return Grounded(messages=[], no_answer=profile.no_answer, query=query, retrieval_s=seconds,
                            evidence_s=evidence_s, coverage=covered, similarity=similarity, unknown_names=unknown,
                            read=read, conversation=conversation, read_tokens=tally)
        prompt = build_prompt(
            profile.system_prompt, conversation, evidence, grounded=True,
            max_prompt_tokens=budget, max_context_tokens=profile.retrieval.max_context_tokens,
            tokens=self.meter_for(profile),
        )
        return Grounded(
            messages=prompt.messages,
            citations=[citation(i, p) for i, p in enumerate(prompt.passages, start=1)],
            query=query, retrieval_s=seconds, evidence_s=evidence_s, trimmed_turns=prompt.trimmed_turns,
            evidence=list(prompt.passages), coverage=covered, similarity=similarity, question=last,
            read=read, conversation=conversation, read_tokens=tally,
        )
