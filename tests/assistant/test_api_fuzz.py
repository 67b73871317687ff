"""Fuzz the HTTP API from its own OpenAPI schema (schemathesis), in process, against a fake vLLM.

Every operation gets generated requests, valid and invalid (bodies, query strings,
path parameters, uploads of random bytes under random names), sent with an admin
key: no answer may be a 5xx, and every documented answer must match its schema.
``POST /v1/documents/reindex`` is left out: it indexes a path *on the server*, so
random paths would walk the test machine's file system (its access is covered in
test_security.py and test_documents_api.py).

TENOR_FUZZ_EXAMPLES (default 15) sets the examples per operation; raise it for a
longer local run.
"""

import collections
import os
import shutil

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.generation import GenerationMode

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
