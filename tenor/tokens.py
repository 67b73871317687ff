"""Token meters: a base model's own tokenizer and chat template, for the prompt budget.

``tenor.prompt.build_prompt`` trims a conversation to what the model's
context window holds; vLLM counts the prompt with the model's tokenizer after
its chat template has wrapped every message, so the budget must count the
same way. For a model folder this reads ``tokenizer.json`` with `tokenizers`
and renders the chat template with jinja2 as transformers does (no torch, no
transformers: the light server runs this), once, to measure the template's
tokens around each message and around the whole prompt.

A folder without a usable tokenizer falls back to the estimate, with a warning
that names the file and the reason; a folder without a usable chat template
keeps the real tokenizer and the estimate's (generous) template overhead.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from tenor.prompt import APPROX, TokenMeter

log = logging.getLogger("tenor.server")

_PROBE = "Hello"  # one token in common vocabularies; the same on every message of the probe


def _token_text(value) -> str:
    return value.get("content", "") if isinstance(value, dict) else str(value or "")


def chat_template(folder: Path) -> tuple[str, dict]:
    """The folder's chat template and the special tokens it may refer to (``bos_token``...)."""
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        template = next((t["template"] for t in template if t.get("name") == "default"), None)
    jinja_file = folder / "chat_template.jinja"
    if jinja_file.is_file():
        template = jinja_file.read_text(encoding="utf-8")
    if not template:
        raise ValueError(f"{folder}: no chat template (tokenizer_config.json or chat_template.jinja)")
    special = {k: _token_text(v) for k, v in config.items() if k.endswith("_token")}
    return template, special


def render_chat(template: str, special: dict, messages: list[dict]) -> str:
    """The prompt text the template makes of ``messages`` (with the generation prompt),
    rendered in the sandbox and with the helpers transformers provides."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: \
        json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    env.globals.update(raise_exception=raise_exception, strftime_now=lambda f: datetime.now().strftime(f))
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, **special)


def template_overhead(render, count) -> tuple[int, int]:
    """(tokens per message, tokens per prompt) that the chat template adds.

    Renders a system message with 1 and with 3 further turns of the same short
    text; the difference over 2 turns is the per-message cost (rounded up, so
    the budget never undercounts), the rest of the 1-turn prompt is the
    per-prompt cost.
    """
    def extra(turns: int) -> int:
        roles = ["system"] + ["user" if i % 2 == 0 else "assistant" for i in range(turns)]
        text = render([{"role": role, "content": _PROBE} for role in roles])
        return count(text) - len(roles) * count(_PROBE)

    one, three = extra(1), extra(3)
    per_message = math.ceil((three - one) / 2)
    return per_message, max(0, one - 2 * per_message)


def token_meter(model_path: str | Path) -> TokenMeter:
    """The meter for the base model in ``model_path``; the estimate (with a warning) without one."""
    folder = Path(model_path)
    try:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as exc:  # missing file, not a folder (a hub id), corrupt JSON, no `tokenizers`
        log.warning("counting prompt tokens with the 4-characters-a-token estimate for %s: "
                    "cannot load %s (%s)", model_path, folder / "tokenizer.json", exc)
        return APPROX

    def count(text: str) -> int:  # special tokens written in the text count as the one token each is
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    def tail(text: str, n: int) -> str:
        if n <= 0:
            return ""
        offsets = tokenizer.encode(text, add_special_tokens=False).offsets
        # Cut at a token's first character; re-tokenized, a cut text can come out a
        # token longer (a merge broken at the cut), so step on until it fits.
        for start, _ in offsets[max(0, len(offsets) - n):]:
            if count(text[start:]) <= n:
                return text[start:]
        return ""

    try:
        template, special = chat_template(folder)
        per_message, per_prompt = template_overhead(
            lambda messages: render_chat(template, special, messages), count)
    except Exception as exc:
        log.warning("%s: cannot measure the chat template's tokens (%s); assuming %d a message",
                    folder, exc, APPROX.per_message)
        return TokenMeter(count=count, tail=tail)
    return TokenMeter(count=count, tail=tail, per_message=per_message, per_prompt=per_prompt)


@lru_cache(maxsize=None)
def cached_meter(model_path: str) -> TokenMeter:
    """One meter per model folder for the life of the process (loading it reads the tokenizer)."""
    return token_meter(model_path)


def profile_meter(settings, profile) -> TokenMeter:
    """The meter of the profile's base model, as the server counts its evidence and prompt with
    (so calibrate and the eval's abstention curve select the same evidence the server does)."""
    return cached_meter(settings.resolve_model(profile.base_model))
