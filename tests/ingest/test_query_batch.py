"""Concurrent queries share batched encodes and each gets its own vector (or the error)."""

import threading
import time

import numpy as np
import pytest

from ingest.query_batch import QueryBatcher


class SlowEncoder:
    """Vector i is [len(text), i]; each call takes a while, so callers pile up."""

    def __init__(self, fail_on: str | None = None):
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, texts):
        self.calls.append(list(texts))
        time.sleep(0.05)
        if self.fail_on in texts:
            raise RuntimeError("encoder broke")
        return np.array([[len(t), i] for i, t in enumerate(texts)], dtype=np.float32)


def run_concurrently(batcher, texts):
    results, errors = {}, {}
    start = threading.Barrier(len(texts))

    def one(text):
        start.wait()
        try:
            results[text] = batcher.encode(text)
        except RuntimeError as exc:
            errors[text] = exc

    threads = [threading.Thread(target=one, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results, errors


def test_one_query_is_one_encode_of_itself():
    encoder = SlowEncoder()
    vector = QueryBatcher(encoder).encode("hello")
    assert encoder.calls == [["hello"]] and vector[0] == 5


def test_concurrent_queries_are_batched_and_get_their_own_vectors():
    encoder = SlowEncoder()
    batcher = QueryBatcher(encoder)
    texts = ["q" * n for n in range(1, 33)]
    results, errors = run_concurrently(batcher, texts)
    assert not errors and set(results) == set(texts)
    for text, vector in results.items():
        assert vector[0] == len(text)  # nobody got another query's vector
    assert sorted(t for call in encoder.calls for t in call) == sorted(texts)  # each encoded once
    assert batcher.batches == len(encoder.calls) < len(texts) // 2


def test_batches_respect_the_maximum_size():
    encoder = SlowEncoder()
    results, _ = run_concurrently(QueryBatcher(encoder, max_batch=4), [f"t{n}" for n in range(20)])
    assert len(results) == 20 and max(len(call) for call in encoder.calls) <= 4


def test_an_encoder_error_reaches_every_query_of_that_batch_and_the_batcher_recovers():
    encoder = SlowEncoder(fail_on="bad")
    batcher = QueryBatcher(encoder)
    results, errors = run_concurrently(batcher, ["bad", *[f"ok{n}" for n in range(7)]])
    failed_batch = next(call for call in encoder.calls if "bad" in call)
    assert set(errors) == set(failed_batch) and set(results).isdisjoint(failed_batch)
    assert len(results) + len(errors) == 8
    assert batcher.encode("fine")[0] == 4
    with pytest.raises(RuntimeError, match="encoder broke"):
        batcher.encode("bad")


@pytest.mark.integration
def test_batched_queries_embed_like_single_ones_with_the_real_model():
    from ingest.embedder import get_embedder
    from tenor.config import EmbedSettings

    embedder = get_embedder(EmbedSettings())
    questions = ["How long is the warranty?", "Do you ship to Canada?", "Can I use a third-party charger?",
                 "What is the range of the Trail T3?", "Where is the store?", "gift cards"] * 3
    results, errors = run_concurrently(QueryBatcher(embedder.encode), list(dict.fromkeys(questions)))
    assert not errors
    for text, vector in results.items():
        alone = embedder.encode([text])[0]
        assert float(np.dot(vector, alone)) > 0.999  # padding in a batch changes nothing that matters
