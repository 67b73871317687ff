"""ingest.embedder.closeness: each text's best cosine to the questions, the texts' vectors cached."""

import itertools

import numpy as np
from pytest import approx

from ingest.embedder import closeness

VECTORS = {"quit": [1.0, 0.0], "and the cost?": [0.0, 1.0], "cancel any time": [0.8, 0.6],
           "prices": [0.0, 1.0], "delivery days": [0.6, -0.8]}


EMBEDDERS = itertools.count()


class CountingEmbedder:
    """Unit vectors from a table, counting what it is asked to encode (a stand-in for MiniLM)."""

    def __init__(self):
        self.model_id = f"table-{next(EMBEDDERS)}"  # its own entries in the process-wide cache
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded += texts
        return np.asarray([VECTORS[t] for t in texts], dtype=np.float32)


def test_each_text_scores_its_best_cosine_to_any_question():
    embedder = CountingEmbedder()
    score = closeness(embedder, ["quit", "and the cost?", "quit"])
    assert score(["cancel any time", "prices", "delivery days"]) == approx([0.8, 1.0, 0.6])
    assert score([]) == [] and closeness(embedder, ["  "])(["prices"]) == [0.0]


def test_a_texts_vector_is_computed_once_across_requests():
    embedder = CountingEmbedder()
    closeness(embedder, ["quit"])(["delivery days", "delivery days"])
    assert embedder.encoded == ["quit", "delivery days"]
    embedder.encoded.clear()
    assert closeness(embedder, ["and the cost?"])(["delivery days"]) == approx([-0.8])
    assert embedder.encoded == ["and the cost?"]  # the question only: the sentence's vector was cached
