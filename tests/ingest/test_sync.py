"""`tenor sync` for real: a local help-centre site over HTTP, an article export, a folder;
the real embedder and an embedded Chroma."""

import json

import pytest

from ingest import search
from ingest.index import open_index
from ingest.sync import sync_source
from tenor.config import Settings
from tests.ingest.helpsite import HelpSite, page

pytestmark = pytest.mark.integration

WARRANTY = "The frame is covered for life. Motors and batteries are covered for 2 years from delivery."


def settings_with(home, *sources) -> Settings:
    return Settings.model_validate({
        "home": str(home), "default_profile": "acme",
        "profiles": {"acme": {"collection": "acme", "sources": list(sources)}},
    })


def run(settings, name):
    profile, config = settings.sources([name])[0]
    return sync_source(settings, profile, config)


@pytest.fixture
def site():
    with HelpSite() as site:
        site.pages.update({
            "/help/warranty": page("Warranty", WARRANTY, links=("/help/returns",)),
            "/help/returns": page("Returns", "Return an unused bike within 30 days for a full refund."),
            "/help/battery": page("Battery care", "Store the battery at 40 to 60 percent charge in winter.",
                                  links=("/help/warranty", "/private/staff")),
            "/private/staff": page("Staff only", "The staff discount code is SECRET-42."),
        })
        yield site


def test_web_source_syncs_a_help_centre_and_keeps_it_in_step(tenor_home, site):
    settings = settings_with(tenor_home, {"name": "help", "type": "web", "sitemap": f"{site.url}/sitemap.xml",
                                          "start_urls": [f"{site.url}/help/battery"], "delay_s": 0})
    # 1. first sync: every public page, never a page robots.txt disallows
    first = run(settings, "help")
    assert (first.added, first.removed, first.failed, first.complete) == (3, 0, 0, True), first
    assert site.requests_for("/private/staff") == []
    docs = {d.document_id: d for d in open_index(settings, "acme").list_documents()}
    assert set(docs) == {f"{site.url}/help/{p}" for p in ("warranty", "returns", "battery")}
    top = search("what does the warranty cover for the frame and motor?", k=1, settings=settings, collection="acme")[0]
    assert top.document_id == f"{site.url}/help/warranty" and "2 years" in top.text
    assert top.metadata["url"] == f"{site.url}/help/warranty"  # citations link to the page
    assert "Cookie settings" not in top.text  # main content only

    # 2. unchanged re-sync: only conditional requests, every page a 304, nothing written
    site.log.clear()
    second = run(settings, "help")
    assert (second.added, second.updated, second.unchanged, second.removed) == (0, 0, 3, 0)
    page_requests = [(h, s) for p, h, s in site.log if p.startswith("/help/")]
    assert len(page_requests) == 3 and all(h.get("If-None-Match") and s == 304 for h, s in page_requests)

    # 3. a changed page is re-indexed; a removed one is pruned
    site.pages["/help/warranty"] = page("Warranty", WARRANTY.replace("2 years", "3 years"))
    site.pages["/help/returns"] = 404
    third = run(settings, "help")
    assert (third.updated, third.removed, third.complete) == (1, 1, True), third
    top = search("what does the warranty cover for the frame and motor?", k=1, settings=settings, collection="acme")[0]
    assert "3 years" in top.text and "2 years" not in top.text
    assert f"{site.url}/help/returns" not in {d.document_id for d in open_index(settings, "acme").list_documents()}

    # 4. a page answering 500 keeps its old content; the error is reported; nothing pruned
    site.pages["/help/battery"] = 500
    fourth = run(settings, "help")
    assert fourth.failed == 1 and not fourth.complete and fourth.removed == 0
    assert [(f.path, f.reason) for f in fourth.failures] == [(f"{site.url}/help/battery", "HTTP 500")]
    battery = search("winter battery storage charge", k=1, settings=settings, collection="acme")[0]
    assert battery.document_id == f"{site.url}/help/battery" and "40 to 60 percent" in battery.text


def test_a_failing_sitemap_prunes_nothing(tenor_home, site):
    settings = settings_with(tenor_home, {"name": "help", "type": "web", "sitemap": f"{site.url}/sitemap.xml",
                                          "delay_s": 0})
    assert run(settings, "help").added == 3
    site.sitemap_status = 503
    failed = run(settings, "help")
    assert not failed.complete and failed.removed == 0 and "sitemap" in failed.failures[0].reason
    assert len(open_index(settings, "acme").list_documents()) == 3


def test_jsonl_export_syncs_by_updated_at_and_reports_bad_lines(tenor_home, tmp_path):
    export = tmp_path / "articles.jsonl"

    def write(*articles, extra=""):
        export.write_text("\n".join(json.dumps(a) for a in articles) + "\n" + extra)

    a = {"id": "101", "title": "Shipping times", "body": "<p>Orders ship within <b>2 business days</b>.</p>",
         "url": "https://help.example/articles/101", "updated_at": "2026-01-01"}
    b = {"id": "102", "title": "Gift cards", "body": "Gift cards never expire.", "updated_at": "2026-01-01"}
    write(a, b)
    settings = settings_with(tenor_home, {"name": "export", "type": "jsonl", "path": str(export)})
    assert (run(settings, "export").added, run(settings, "export").unchanged) == (2, 2)

    write({**a, "body": "<p>Orders ship within <b>5 business days</b>.</p>", "updated_at": "2026-02-01"})
    changed = run(settings, "export")
    assert (changed.updated, changed.removed) == (1, 1)
    top = search("how fast do orders ship?", k=1, settings=settings, collection="acme")[0]
    assert "5 business days" in top.text and top.metadata["url"] == a["url"]

    write(a, extra="{not json\n")
    broken = run(settings, "export")
    assert not broken.complete and broken.removed == 0
    assert f"{export}:2:" in broken.failures[0].reason


def test_folder_source_honours_globs_links_urls_and_skips_unchanged_files(tenor_home, tmp_path):
    root = tmp_path / "kb"
    (root / "drafts").mkdir(parents=True)
    (root / "hours.md").write_text("# Hours\n\nOpen Monday to Friday, 9 to 6.\n")
    (root / "drafts" / "new.md").write_text("# Draft\n\nNot published yet.\n")
    settings = settings_with(tenor_home, {"name": "kb", "type": "folder", "path": str(root),
                                          "exclude": ["drafts/*"], "url_prefix": "https://example.com/kb"})
    first = run(settings, "kb")
    assert first.added == 1
    top = search("opening hours", k=1, settings=settings, collection="acme")[0]
    assert top.document_id == "hours.md" and top.metadata["url"] == "https://example.com/kb/hours.md"
    assert run(settings, "kb").unchanged == 1
    (root / "hours.md").unlink()
    assert run(settings, "kb").removed == 1


def test_sync_prunes_only_its_own_documents(tenor_home, tmp_path):
    from ingest.pipeline import ingest_paths

    by_hand = tmp_path / "manual.md"
    by_hand.write_text("# Manual\n\nIndexed with tenor ingest.\n")
    root = tmp_path / "kb"
    root.mkdir()
    (root / "a.md").write_text("# A\n\nSynced.\n")
    settings = settings_with(tenor_home, {"name": "kb", "type": "folder", "path": str(root)})
    ingest_paths(settings, [by_hand], "acme")
    run(settings, "kb")
    (root / "a.md").unlink()
    assert run(settings, "kb").removed == 1
    assert [d.document_id for d in open_index(settings, "acme").list_documents()] == ["manual.md"]


def test_tenor_sync_command_reports_json_and_fails_on_errors(tenor_home, tmp_path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    from tenor.cli import app

    root = tmp_path / "kb"
    root.mkdir()
    (root / "a.md").write_text("# A\n\nSynced.\n")
    config = tmp_path / "tenor.yaml"
    config.write_text(yaml.safe_dump({"default_profile": "acme", "profiles": {"acme": {"sources": [
        {"name": "kb", "type": "folder", "path": str(root)},
        {"name": "gone", "type": "folder", "path": str(tmp_path / "missing")}]}}}))
    monkeypatch.setenv("TENOR_CONFIG", str(config))
    runner = CliRunner()

    ok = runner.invoke(app, ["sync", "kb", "--json"])
    assert ok.exit_code == 0, ok.stderr
    assert [(s["source"], s["added"]) for s in json.loads(ok.stdout)] == [("kb", 1)]

    failed = runner.invoke(app, ["sync"])
    assert failed.exit_code == 1 and "missing: no such folder" in failed.stderr
    assert "kb -> acme: 0 added, 0 updated, 1 unchanged" in failed.stderr

    unknown = runner.invoke(app, ["sync", "nope"])
    assert unknown.exit_code == 1 and "unknown source 'nope'; configured: kb, gone" in unknown.stderr
