"""Adapter versions on disk: NAME@N folders, the history that says which serves, rollback."""

import json

import pytest

from tenor.adapter_versions import AdapterVersions, NoSuchVersion, split_ref
from tenor.config import Settings


def make_adapter(folder, fingerprint="sha256:x"):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(b"")
    (folder / "tenor.json").write_text(json.dumps({"fingerprint": fingerprint}))
    return folder


def test_refs_split_into_name_and_version():
    assert split_ref("larkfield") == ("larkfield", None)
    assert split_ref("larkfield@12") == ("larkfield", 12)
    for bad in ("larkfield@", "larkfield@two", "@3"):
        with pytest.raises(ValueError, match="NAME@N"):
            split_ref(bad)


def test_versions_count_up_and_the_first_promoted_serves(tmp_path):
    versions = AdapterVersions(tmp_path, "voice")
    assert versions.versions() == [] and versions.serving() is None and versions.next_version() == 1
    make_adapter(tmp_path / "voice@1", "sha256:a")
    make_adapter(tmp_path / "voice@2", "sha256:b")
    (tmp_path / "voice@3").mkdir()  # a folder without an adapter (an interrupted run) is no version
    make_adapter(tmp_path / "voiceover@1")  # another name
    assert versions.versions() == [1, 2] and versions.next_version() == 3
    assert versions.with_fingerprint("sha256:b") == tmp_path / "voice@2"
    assert versions.with_fingerprint("sha256:zzz") is None
    versions.promote(1, action="first version")
    assert versions.serving() == 1


def test_promote_then_rollback_walks_the_history_back(tmp_path):
    for n in (1, 2, 3):
        make_adapter(tmp_path / f"voice@{n}")
    versions = AdapterVersions(tmp_path, "voice")
    versions.promote(1)
    versions.promote(2, gate={"failures": []})
    versions.promote(2)  # already serving: nothing recorded
    versions.promote(3)
    assert versions.serving() == 3
    assert versions.rollback() == (3, 2) and versions.serving() == 2
    assert versions.rollback() == (2, 1) and versions.serving() == 1
    with pytest.raises(NoSuchVersion, match="no earlier version"):
        versions.rollback()
    history = json.loads((tmp_path / "voice.history.json").read_text())
    assert [(e["action"], e["version"], e["previous"]) for e in history["events"]] == [
        ("promote", 1, None), ("promote", 2, 1), ("promote", 3, 2), ("rollback", 2, 3), ("rollback", 1, 2)]
    assert history["events"][1]["gate"] == {"failures": []}
    with pytest.raises(NoSuchVersion, match="no adapter voice@9"):
        versions.promote(9)


def test_a_plain_folder_from_before_versions_is_version_0_and_rollback_returns_to_it(tmp_path):
    make_adapter(tmp_path / "voice")
    make_adapter(tmp_path / "voice@1")
    versions = AdapterVersions(tmp_path, "voice")
    assert versions.serving() == 0 and versions.next_version() == 2
    versions.promote(1)
    assert versions.rollback() == (1, 0) and versions.folder(versions.serving()) == tmp_path / "voice"


def test_rollback_refuses_when_the_earlier_version_was_deleted(tmp_path):
    import shutil

    for n in (1, 2):
        make_adapter(tmp_path / f"voice@{n}")
    versions = AdapterVersions(tmp_path, "voice")
    versions.promote(1)
    versions.promote(2)
    shutil.rmtree(tmp_path / "voice@1")
    with pytest.raises(NoSuchVersion, match="no longer"):
        versions.rollback()
    assert versions.serving() == 2  # nothing changed


def test_settings_resolve_a_bare_name_to_its_serving_version(tmp_path):
    settings = Settings(home=tmp_path)
    adapters = settings.adapters_dir
    assert settings.resolve_adapter("voice") == adapters / "voice"  # nothing trained yet: today's folder
    for n in (1, 2):
        make_adapter(adapters / f"voice@{n}")
    versions = AdapterVersions(adapters, "voice")
    versions.promote(1)
    versions.promote(2)
    assert settings.resolve_adapter("voice") == adapters / "voice@2"
    assert settings.resolve_adapter("voice@1") == adapters / "voice@1"
    assert settings.resolve_adapter(str(tmp_path / "x")) == tmp_path / "x"
    versions.rollback()
    assert settings.resolve_adapter("voice") == adapters / "voice@1"


def test_a_broken_history_is_reported_with_its_file(tmp_path):
    make_adapter(tmp_path / "voice@1")
    (tmp_path / "voice.history.json").write_text("{oops")
    with pytest.raises(ValueError, match="voice.history.json"):
        AdapterVersions(tmp_path, "voice").serving()


def test_a_folder_without_the_weights_is_no_version(tmp_path):
    (tmp_path / "voice@1").mkdir()
    (tmp_path / "voice@1" / "adapter_config.json").write_text('{"r": 8}')  # an interrupted copy
    assert AdapterVersions(tmp_path, "voice").versions() == []


def test_one_training_of_a_name_at_a_time(tmp_path):
    from tenor.adapter_versions import BadRef

    versions = AdapterVersions(tmp_path, "voice")
    with versions.training():
        with pytest.raises(BadRef, match="another `tenor finetune` is writing a version of 'voice'"):
            with AdapterVersions(tmp_path, "voice").training():
                pass
        with AdapterVersions(tmp_path, "other").training():  # another name is free
            pass
    with versions.training():  # released
        pass
