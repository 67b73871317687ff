"""Merged mode on the real vLLM: one adapter merged into its base and served eager, under the
adapter's name, answers token for token as transformers + peft answer (greedy)."""

import httpx
import pytest

from tenor.config import Settings
from tenor.net import free_port
from tests.vllm_fixtures import make_test_adapter

pytestmark = pytest.mark.vllm
QUESTIONS = ["How long is the warranty on the frame?", "Do you ship to Canada?",
             "What is the capital of France?"]


def test_merged_mode_answers_as_transformers_and_peft(prepared_base_model, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.vllm_process import VllmProcess, merge_dtype

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / prepared_base_model.name).symlink_to(prepared_base_model, target_is_directory=True)
    adapter = make_test_adapter(prepared_base_model, tmp_path / "adapters" / "voice", seed=3)
    settings = Settings(home=tmp_path, profiles={"shop": {"adapter": "voice"}}, default_profile="shop",
                        vllm={"mode": "merged", "port": free_port()})  # dtype auto: float32 on the CPU build
    proc = VllmProcess(settings)
    assert proc.merged == ("voice", adapter)

    tokenizer = AutoTokenizer.from_pretrained(str(prepared_base_model))
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                             return_dict=False) for q in QUESTIONS]
    dtype = getattr(torch, merge_dtype(settings.vllm.dtype))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(prepared_base_model), dtype=dtype),
                                      str(adapter)).eval()
    with torch.no_grad():
        expected = [model.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False,
                                   pad_token_id=tokenizer.eos_token_id)[0, len(ids):].tolist() for ids in prompts]
    base = AutoModelForCausalLM.from_pretrained(str(prepared_base_model), dtype=dtype)
    with torch.no_grad():
        plain = base.generate(torch.tensor([prompts[0]]), max_new_tokens=16, do_sample=False,
                              pad_token_id=tokenizer.eos_token_id)[0, len(prompts[0]):].tolist()
    assert plain != expected[0]  # the adapter changes the answer, so a served base would be caught

    proc.start()
    try:
        assert "--enable-lora" not in proc.command() and "--enforce-eager" in proc.command()
        models = httpx.get(f"{proc.url}/v1/models", timeout=10).json()
        assert [m["id"] for m in models["data"]] == ["voice"]  # what the profile's requests name
        served = []
        for ids in prompts:
            reply = httpx.post(f"{proc.url}/v1/completions", timeout=300, json={
                "model": "voice", "prompt": ids, "max_tokens": 16, "temperature": 0,
                "logprobs": 0, "return_tokens_as_token_ids": True})
            reply.raise_for_status()
            choice = reply.json()["choices"][0]
            served.append([int(t.split(":", 1)[1]) for t in choice["logprobs"]["tokens"]])
    finally:
        proc.stop()
    assert served == expected, [tokenizer.decode(s) for s in served + expected]
