"""A stand-in for vLLM's OpenAI API, for unit tests of the code around the engine only.

It speaks vLLM's wire format (``data: {...}\\n\\n`` chunks, a usage chunk with
``stream_options.include_usage``, ``data: [DONE]``) and records every request,
so tests can check what Tenor sent. Run it on a real port from a test
(``FakeVllm().start()``) or as a process (``python tests/assistant/fake_vllm.py --port N``).

Given the base model's folder (``tokenizer_dir``), it counts each prompt as vLLM
does (the model's chat template, then its tokenizer, through transformers) and
refuses one that does not fit the context window with vLLM's 400.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from tenor.net import free_port

BASE = "smollm2-135m-instruct"
MAX_MODEL_LEN = 2048


def answer_for(messages: list[dict]) -> str:
    last = [m for m in messages if m.get("role") == "user"][-1]["content"]
    return f"You asked: {last[:60]} [1]"


def prompt_counter(tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))

    def count(messages: list[dict]) -> int:
        return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                 return_dict=True)["input_ids"])

    return count


def create_fake(served: tuple[str, ...] = (BASE, "larkfield-voice"), lora_paths: dict[str, str] | None = None,
                tokenizer_dir=None) -> FastAPI:
    app = FastAPI()
    app.state.requests = []
    app.state.prompt_tokens = []  # per request, when counted with the model's tokenizer
    count_prompt = prompt_counter(tokenizer_dir) if tokenizer_dir else None
    app.state.served = list(served)
    app.state.lora_paths = dict(lora_paths or {})  # LoRA name -> folder (vLLM's "root" on /v1/models)
    app.state.loaded = []
    app.state.delay_s = 0.0
    app.state.break_after = None  # int: drop the connection after that many streamed words (a crash)
    app.state.garbage_after = None  # int: send a malformed chunk after that many words
    app.state.answer = None  # str: answer every chat with this text instead of the echo

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "BadRequestError", "param": None,
                                       "code": status}}, status_code=status)

    @app.get("/health")
    async def health():
        return {}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "vllm",
                                            "root": app.state.lora_paths.get(m, m)} for m in app.state.served]}

    @app.post("/v1/load_lora_adapter")
    async def load(request: Request):
        body = await request.json()
        app.state.loaded.append(body)
        app.state.lora_paths[body["lora_name"]] = body["lora_path"]
        if body["lora_name"] not in app.state.served:
            app.state.served.append(body["lora_name"])
        return f"Success: LoRA adapter '{body['lora_name']}' added successfully."

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        app.state.requests.append(body)
        if body["model"] not in app.state.served:
            return error(404, f"The model `{body['model']}` does not exist.")
        if body.get("max_tokens", 0) > MAX_MODEL_LEN:
            return error(400, f"max_tokens is too large: {body['max_tokens']}; the maximum context length is {MAX_MODEL_LEN}.")
        prompt_tokens = 100
        if count_prompt:
            prompt_tokens = count_prompt(body["messages"])
            app.state.prompt_tokens.append(prompt_tokens)
            wanted = prompt_tokens + body.get("max_tokens", 0)
            if wanted > MAX_MODEL_LEN:
                return error(400, f"This model's maximum context length is {MAX_MODEL_LEN} tokens. However, you "
                                  f"requested {wanted} tokens ({prompt_tokens} in the messages, "
                                  f"{body.get('max_tokens', 0)} in the completion). Please reduce the length of "
                                  "the messages or completion.")
        text = app.state.answer if app.state.answer is not None else answer_for(body["messages"])
        words = text.split(" ")
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                 "total_tokens": prompt_tokens + len(words)}
        cid, created = "chatcmpl-fake", int(time.time())
        if not body.get("stream"):
            return {"id": cid, "object": "chat.completion", "created": created, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop", "logprobs": None}], "usage": usage}

        def chunk(choices, **extra):
            return "data: " + json.dumps({"id": cid, "object": "chat.completion.chunk", "created": created,
                                          "model": body["model"], "choices": choices, **extra}) + "\n\n"

        async def frames():
            import asyncio

            yield chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                          "finish_reason": None}])
            for i, word in enumerate(words):
                if app.state.delay_s:
                    await asyncio.sleep(app.state.delay_s)
                if app.state.break_after is not None and i >= app.state.break_after:
                    raise ConnectionAbortedError("fake vLLM crashed mid-stream")  # uvicorn drops the socket
                if app.state.garbage_after is not None and i >= app.state.garbage_after:
                    yield "data: {not json\n\n"
                    return
                piece = word if i == 0 else " " + word
                yield chunk([{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
            yield chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}])
            if (body.get("stream_options") or {}).get("include_usage"):
                yield chunk([], usage=usage)
            yield "data: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    return app


class FakeVllm:
    def __init__(self, port: int | None = None, served: tuple[str, ...] = (BASE, "larkfield-voice"),
                 tokenizer_dir=None):
        self.app = create_fake(served, tokenizer_dir=tokenizer_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "FakeVllm":
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("fake vLLM did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)

    @property
    def requests(self) -> list[dict]:
        return self.app.state.requests

    @property
    def prompt_tokens(self) -> list[int]:
        return self.app.state.prompt_tokens


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-s", type=float, default=0.0, help="pause before each streamed word")
    parser.add_argument("--startup-delay-s", type=float, default=0.0, help="pause before listening (a slow start)")
    parser.add_argument("--lora-modules", nargs="*", default=[], help="NAME=PATH, as vLLM takes them")
    args, _ = parser.parse_known_args()
    time.sleep(args.startup_delay_s)
    loras = dict(module.split("=", 1) for module in args.lora_modules)
    fake = create_fake((BASE, *loras), loras) if loras else create_fake()
    fake.state.delay_s = args.delay_s
    uvicorn.run(fake, host="127.0.0.1", port=args.port, log_level="error")
