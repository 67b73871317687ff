"""The real base model: a few LoRA steps on SmolLM2-135M-Instruct, then generation and merge.

(Merged outputs are compared with base + adapter on the tiny model in test_cli.py.)"""

import json

import pytest

from finetune.train import TrainConfig, train_adapter

pytestmark = pytest.mark.integration


def test_train_a_few_steps_generate_and_merge(prepared_base_model, small_data, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune import evaluate
    from finetune.merge import merge_adapter
    from finetune.train import load_tokenizer
    from tenor.config import Settings

    settings = Settings(home=tmp_path / "home")
    config = TrainConfig(max_steps=3, batch_size=2, eval_fraction=0.25, max_seq_len=512)
    result = train_adapter(settings, small_data, tmp_path / "adapter", config, base=str(prepared_base_model),
                           show_progress=False, say=lambda m: None)
    metrics = result.manifest["metrics"]
    assert metrics["steps"] == 3 and metrics["train_tokens"] > 0
    assert 0 < metrics["eval_loss"] < metrics["base_eval_loss"] < 10

    tokenizer = load_tokenizer(str(prepared_base_model))
    base = AutoModelForCausalLM.from_pretrained(prepared_base_model, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(result.path)).eval()
    prompt = [{"role": "system", "content": "You are the Larkfield support assistant."},
              {"role": "user", "content": "Do you sell helmets?"}]
    [answer] = evaluate.generate(model, tokenizer, [prompt], max_new_tokens=12)
    assert answer and isinstance(answer, str)

    merged = merge_adapter(settings, result.path, tmp_path / "merged", base=str(prepared_base_model))
    config = json.loads((merged / "config.json").read_text())
    assert (config.get("rope_parameters") or config)["rope_theta"] == 100000.0
    assert {"model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {p.name for p in merged.iterdir()}
