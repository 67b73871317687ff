"""Training with the real Trainer on a tiny llama: adapter format, reuse, determinism, resume."""

import json

import pytest
from safetensors.torch import load_file

from finetune.adapters import list_adapters
from finetune.train import TrainConfig, train_adapter

FAST = dict(epochs=2, batch_size=4, lr=1e-3, max_seq_len=512)


def train(settings, data, out, tiny_base, **kwargs):
    config = TrainConfig(**{**FAST, **kwargs.pop("config", {})})
    return train_adapter(settings, data, out, config, base=str(tiny_base), show_progress=False,
                         say=lambda message: None, **kwargs)


def weights(folder):
    return load_file(str(folder / "adapter_model.safetensors"))


def test_adapter_folder_is_what_vllm_and_peft_load(settings, small_data, tiny_base):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = settings.adapters_dir / "voice"
    result = train(settings, small_data, out, tiny_base)
    assert not result.reused
    assert {"adapter_config.json", "adapter_model.safetensors", "tenor.json"} <= {p.name for p in out.iterdir()}
    assert not any(p.name.startswith(".") for p in settings.adapters_dir.iterdir())  # checkpoints cleaned up

    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 16 and config["lora_alpha"] == 32
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj",
                                             "gate_proj", "up_proj", "down_proj"}
    manifest = json.loads((out / "tenor.json").read_text())
    assert manifest["base_model"] == str(tiny_base.resolve())
    assert manifest["data"]["hash"].startswith("sha256:") and manifest["data"]["examples"] == 16
    assert (manifest["data"]["train"], manifest["data"]["eval"]) == (14, 2)
    assert manifest["settings"]["lora_r"] == 16 and manifest["settings"]["seed"] == 42
    metrics = manifest["metrics"]
    assert metrics["steps"] == 8 and metrics["train_tokens"] > 0
    assert metrics["eval_loss"] < metrics["base_eval_loss"]  # it learned something
    assert manifest["created_at"] and manifest["fingerprint"].startswith("sha256:")
    heldout = metrics["heldout"]  # the two held-out conversations, answered by the trained model
    assert heldout["answers"] == 2 and len(heldout["rows"]) == 2 and "error" not in heldout
    assert heldout["groundedness"] is None  # plain training: no passages to be grounded in
    assert all(isinstance(row["answer"], str) and isinstance(row["voice"], bool) for row in heldout["rows"])

    base = AutoModelForCausalLM.from_pretrained(tiny_base)
    model = PeftModel.from_pretrained(base, str(out))
    trained_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert trained_b and all(torch.count_nonzero(p) > 0 for p in trained_b)  # B starts at zero
    assert [row["name"] for row in list_adapters(settings)] == ["voice"]


def test_unchanged_data_settings_and_base_reuse_the_adapter(settings, small_data, tiny_base):
    out = settings.adapters_dir / "voice"
    first = train(settings, small_data, out, tiny_base, config={"max_steps": 2})
    first_weights = weights(out)  # read now: retraining below overwrites the file
    again = train(settings, small_data, out, tiny_base, config={"max_steps": 2})
    assert again.reused and again.manifest == first.manifest

    forced = train(settings, small_data, out, tiny_base, config={"max_steps": 2}, force=True)
    assert not forced.reused and forced.manifest["created_at"] >= first.manifest["created_at"]
    forced_weights = weights(out)
    assert forced_weights.keys() == first_weights.keys()
    assert all(forced_weights[k].equal(first_weights[k]) for k in first_weights)  # same seed, same data

    changed = train(settings, small_data, out, tiny_base, config={"max_steps": 2, "lr": 5e-4})
    assert not changed.reused
    small_data.write_text(small_data.read_text().replace("Hey rider!", "Hi rider!", 1))
    assert not train(settings, small_data, out, tiny_base, config={"max_steps": 2, "lr": 5e-4}).reused


def test_same_seed_gives_identical_weights(settings, small_data, tiny_base):
    a = train(settings, small_data, settings.adapters_dir / "a", tiny_base, config={"max_steps": 3})
    b = train(settings, small_data, settings.adapters_dir / "b", tiny_base, config={"max_steps": 3})
    wa, wb = weights(a.path), weights(b.path)
    assert wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)


class Interrupt(Exception):
    pass


def test_resume_continues_from_the_last_checkpoint(settings, small_data, tiny_base):
    from transformers import TrainerCallback

    class StopAfterFirstSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise Interrupt(state.global_step)

    class FirstStep(TrainerCallback):
        step = None

        def on_step_end(self, args, state, control, **kwargs):
            FirstStep.step = FirstStep.step or state.global_step

    out = settings.adapters_dir / "voice"
    with pytest.raises(ValueError, match="no checkpoint"):
        train(settings, small_data, out, tiny_base, resume=True)
    with pytest.raises(Interrupt):
        train(settings, small_data, out, tiny_base, callbacks=[StopAfterFirstSave()])
    assert not out.exists()
    assert [p.name for p in (settings.adapters_dir / ".voice.checkpoints").glob("checkpoint-*")] == ["checkpoint-4"]

    resumed = train(settings, small_data, out, tiny_base, resume=True, callbacks=[FirstStep()])
    assert FirstStep.step == 5  # steps 1-4 were not run again
    assert resumed.manifest["metrics"]["steps"] == 8

    straight = train(settings, small_data, settings.adapters_dir / "straight", tiny_base)
    a, b = weights(out), weights(straight.path)
    assert all(a[k].allclose(b[k], atol=1e-6) for k in a)  # as if never interrupted
