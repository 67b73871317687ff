"""Fuzz the HTTP API from its own OpenAPI schema (schemathesis), in process, against a fake vLLM.

Every operation gets generated requests, valid and invalid (bodies, query strings,
path parameters, uploads of random bytes under random names), sent with an admin
key: no answer may be a 5xx, and every documented answer must match its schema.
``POST /v1/documents/reindex`` is left out: it indexes a path *on the server*, so
random paths would walk the test machine's file system (its access is covered in
test_security.py and test_documents_api.py).

TENOR_FUZZ_EXAMPLES (default 15) sets the examples per operation; raise it for a
longer local run. A second test puts a lone surrogate (invalid Unicode) into one string of
generated valid bodies, anywhere (values and keys), and expects a 400 each time.
"""

import collections
import json
import os
import shutil

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi

from tests.assistant.conftest import ADMIN_KEY, sample_settings
from tests.assistant.fake_vllm import FakeVllm

EXAMPLES = int(os.environ.get("TENOR_FUZZ_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def api_schema(indexed_home, tmp_path_factory):
    from assistant.app import create_app
    from assistant.engine import Engine

    fake = FakeVllm().start()  # its own: fuzzed adapter loads change what it serves
    home = tmp_path_factory.mktemp("fuzz") / "home"
    shutil.copytree(indexed_home, home)  # a private copy: fuzzed uploads and deletes stay here
    settings = sample_settings(home, server={"max_body_bytes": 256 * 1024})
    app = create_app(settings, engine=Engine(fake.url))
    yield schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/v1/documents/reindex")
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()
    fake.stop()


def fuzz(operation, mode, statuses: collections.Counter) -> list[str]:
    """Run ``EXAMPLES`` generated requests against one operation; the failures, as text."""
    failures: list[str] = []

    @hypothesis.given(operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate])
    def run(case):
        response = case.call(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        statuses[(operation.label, response.status_code // 100)] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        except AssertionError as exc:  # schemathesis' failures are AssertionErrors with a report
            failures.append(f"{operation.label} [{mode.value}]\n{case.as_curl_command()}\n{exc}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:  # nothing to break (GET /health has no input)
        assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


def _by_class(statuses):
    out = collections.Counter()
    for (label, cls), n in statuses.items():
        out[f"{cls}xx"] += n
    return out


def test_api_never_answers_5xx_and_matches_its_schema(api_schema):
    # pytest 9 and schemathesis' pytest plugin disagree, so operations are walked here.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"POST /v1/chat/completions", "POST /v1/documents", "POST /v1/retrieve"} <= labels
    assert "POST /v1/documents/reindex" not in labels
    failures = []
    statuses = collections.Counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += fuzz(operation, mode, statuses)
    print(f"\n[fuzz] {sum(statuses.values())} requests over {len(operations)} operations; "
          f"by status class: {dict(_by_class(statuses))}")
    # the fuzzer really reached the handlers, not only the validation layer
    assert statuses[("POST /v1/chat/completions", 2)] and statuses[("POST /v1/chat/completions", 4)]
    assert statuses[("POST /v1/documents", 4)] and statuses[("GET /v1/documents", 2)]
    assert not failures, f"{len(failures)} failing requests:\n\n" + "\n\n".join(failures[:10])


SURROGATE = "\ud800"  # a lone surrogate: valid in a JSON escape, invalid as Unicode text


def _string_spots(value, path=()) -> list[tuple]:
    """Paths to every string in a JSON value: ("k", 0, ...) for a value, (..., ("key", k)) for a key."""
    if isinstance(value, str):
        return [path]
    spots = []
    if isinstance(value, dict):
        for key, item in value.items():
            spots += [path + (("key", key),), *_string_spots(item, path + (key,))]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            spots += _string_spots(item, path + (i,))
    return spots


def _spoil(value, spot: tuple):
    """``value`` with a lone surrogate put into the string at ``spot``."""
    if not spot:
        return value + SURROGATE
    head, rest = spot[0], spot[1:]
    if isinstance(head, tuple):  # a dict key
        return {(k + SURROGATE if k == head[1] else k): v for k, v in value.items()}
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _spoil(value[head], rest)
    return copy


def test_invalid_unicode_anywhere_in_a_body_is_a_400(api_schema):
    """Valid generated bodies with a lone surrogate put into one string (value or key), anywhere: every one a
    400 in OpenAI's shape, none a 500 (before the check, a surrogate reached the tokenizer: TypeError)."""
    operations = [op for op in (r.ok() for r in api_schema.get_all_operations())
                  if op.method.upper() == "POST" and op.body and op.body[0].media_type == "application/json"]
    assert {"POST /v1/chat/completions", "POST /v1/retrieve"} <= {op.label for op in operations}
    failures, sent = [], collections.Counter()
    for operation in operations:
        @hypothesis.given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                          data=hypothesis.strategies.data())
        @hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate])
        def run(case, data):
            spots = _string_spots(case.body)
            if not spots:
                return
            body = _spoil(case.body, data.draw(hypothesis.strategies.sampled_from(spots)))
            # Sent as raw JSON (the surrogate as the escape \ud800): schemathesis' own call checks the body
            # against the schema first, and that check cannot encode a surrogate either.
            with asgi.get_client(operation.app) as client:
                response = client.post(f"http://{asgi.HOST}{operation.path}", data=json.dumps(body).encode(),
                                       headers={"Authorization": f"Bearer {ADMIN_KEY}",
                                                "Content-Type": "application/json"})
            sent[operation.label] += 1
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = None
            if response.status_code != 400 or "not valid Unicode" not in str(message):
                failures.append(f"{operation.label}: {response.status_code} {response.text[:300]}\n{body!r}"[:800])

        run()
    print(f"\n[fuzz] invalid Unicode: {sum(sent.values())} requests: {dict(sent)}")
    assert sent["POST /v1/chat/completions"] and sent["POST /v1/retrieve"]
    assert not failures, f"{len(failures)} failing requests:\n\n" + "\n\n".join(failures[:10])
