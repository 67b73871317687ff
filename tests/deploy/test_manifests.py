"""deploy/ checked without Docker or a cluster: compose.yaml against the Compose
specification, the Kubernetes manifests against their schemas, and every port,
environment variable, probe path and model name in them against what the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tenor.config import Settings, _env_overrides, load_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"


# -- loading ---------------------------------------------------------------------------------

def _example_env() -> dict[str, str]:
    env = {}
    for line in (DEPLOY / "example.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def _interpolate(value, env: dict[str, str]):
    """Compose's variable interpolation (${VAR}, ${VAR:-default}, ${VAR:?error}, $$) on string values."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(match):
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in env and (env[name] or op not in (":-", ":?")):
            return env[name]
        if op in (":?", "?"):
            raise ValueError(f"required variable {name} is not set: {arg}")
        return arg or ""

    return re.sub(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}", sub, value).replace("$$", "$")


def compose_dict(env: dict[str, str] | None = None) -> dict:
    """compose.yaml as `docker compose config` sees it: YAML merge keys resolved, variables interpolated."""
    return _interpolate(yaml.safe_load((DEPLOY / "compose.yaml").read_text()), env or _example_env())


def k8s_objects() -> list[dict]:
    objects = []
    for path in sorted(K8S.glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def k8s(kind: str, name: str) -> dict:
    found = [o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _container(obj: dict) -> dict:
    spec = obj["spec"]["template"]["spec"] if obj["kind"] != "Job" else obj["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1
    return spec["containers"][0]


def _env_list(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _routes() -> set[str]:
    """The assistant's real routes (GET/POST paths), from the FastAPI app itself."""
    from assistant.app import create_app

    app = create_app(Settings(api_keys=[{"key": "test-key-000", "scope": "admin"}]))
    return {route.path for route in app.routes}


def _arg(args: list[str], flag: str) -> list[str]:
    """Values of a command-line flag, as --flag=value or --flag value [value ...]."""
    values = []
    for i, item in enumerate(args):
        if item.startswith(flag + "="):
            values.append(item.split("=", 1)[1])
        elif item == flag:
            for nxt in args[i + 1:]:
                if nxt.startswith("--"):
                    break
                values.append(nxt)
    return values


def _known_env_var(name: str) -> bool:
    """A TENOR_* variable the settings loader reads and the Settings model accepts."""
    if name in ("TENOR_CONFIG", "TENOR_HOME"):
        return True
    tree, _ = _env_overrides({name: "1"})
    if not tree:  # ignored by the loader: it names no setting
        return False
    node: object = Settings
    path = []
    while isinstance(tree, dict) and tree:
        (key, tree), = tree.items()
        path.append(key)
        fields = getattr(node, "model_fields", None)
        if fields is None:  # a dict of models (profiles.NAME): any key, then the value's model
            return True
        if key not in fields:
            return False
        annotation = fields[key].annotation
        node = annotation if hasattr(annotation, "model_fields") else None
        if node is None:
            return True
    return True


# -- the specifications -----------------------------------------------------------------------

def test_compose_file_follows_the_compose_specification():
    from compose_spec import PyCompose

    data = compose_dict()
    parsed = PyCompose.from_yaml(yaml.safe_dump(data)).to_dict()
    assert set(parsed["services"]) == {"vllm", "chroma", "postgres", "assistant-a", "assistant-b", "proxy", "ingest"}


def test_compose_validation_rejects_a_broken_file():
    """The validator is not a rubber stamp: a misspelt key and a bad GPU count are refused."""
    from compose_spec import PyCompose

    data = compose_dict()
    data["services"]["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]["count"] = "one"
    with pytest.raises(ValueError, match="count"):
        PyCompose.from_yaml(yaml.safe_dump(data))
    data = compose_dict()
    data["services"]["chroma"]["volume"] = ["chroma-data:/data"]
    with pytest.raises(ValueError, match="volume"):
        PyCompose.from_yaml(yaml.safe_dump(data))


def test_compose_refuses_to_start_without_api_keys():
    env = {k: v for k, v in _example_env().items() if k != "TENOR_API_KEYS"}
    with pytest.raises(ValueError, match="TENOR_API_KEYS"):
        compose_dict(env)


def test_kubernetes_manifests_pass_strict_schema_validation():
    import kubernetes_validate

    kinds = set()
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kubernetes_validate.validate(doc, "1.30.0", strict=True)
                kinds.add(doc["kind"])
    assert {"Deployment", "StatefulSet", "Service", "HorizontalPodAutoscaler", "Secret", "ConfigMap",
            "Job", "PersistentVolumeClaim"} <= kinds


def test_kubernetes_validation_rejects_a_broken_manifest():
    import kubernetes_validate

    deployment = k8s("Deployment", "tenor-assistant")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/ready"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.30.0", strict=True)


# -- what the code reads ---------------------------------------------------------------------

def test_deploy_config_loads_and_the_configmap_holds_the_same_file():
    settings = load_settings(DEPLOY / "tenor.yaml", environ={})
    assert settings.embed.backend == "onnx"
    assert settings.server.host == "0.0.0.0" and settings.server.port == 8000
    configmap = yaml.safe_load(k8s("ConfigMap", "tenor-config")["data"]["tenor.yaml"])
    assert configmap == yaml.safe_load((DEPLOY / "tenor.yaml").read_text())


def test_every_tenor_variable_in_deploy_is_one_the_settings_read():
    names = set()
    for service in compose_dict()["services"].values():
        names |= {k for k in (service.get("environment") or {}) if k.startswith("TENOR_")}
    for obj in k8s_objects():
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            names |= {k for k in _env_list(_container(obj)) if k.startswith("TENOR_")}
    for dockerfile in (DEPLOY / "images").glob("*.Dockerfile"):
        names |= set(re.findall(r"\b(TENOR_[A-Z_]+)=", dockerfile.read_text()))
    names |= set(re.findall(r"^(TENOR_[A-Z_]+)=", (DEPLOY / "example.env").read_text(), re.M)) - {
        "TENOR_PORT", "TENOR_DOCS"}  # compose's own variables, not Tenor's
    assert {"TENOR_CONFIG", "TENOR_CHROMA_URL", "TENOR_VLLM__URL", "TENOR_API_KEYS", "TENOR_EMBED__BACKEND"} <= names
    unknown = sorted(n for n in names if not _known_env_var(n))
    assert not unknown, f"variables no setting reads: {unknown}"
    assert not _known_env_var("TENOR_VLLM_URL")  # the checker itself tells a typo apart


def test_deployed_environment_produces_working_settings(tmp_path):
    """The assistant's environment in compose and k8s, applied to the mounted config, gives the
    settings the topology needs (external vLLM and Chroma, keys, ONNX embedder)."""
    env = dict(compose_dict()["services"]["assistant-a"]["environment"])
    env["TENOR_CONFIG"] = str(DEPLOY / "tenor.yaml")
    env["TENOR_HOME"] = str(tmp_path)
    settings = load_settings(environ=env)
    assert settings.vllm.url == "http://vllm:8000" and settings.chroma_url == "http://chroma:8000"
    assert {k.scope for k in settings.api_keys} == {"admin", "chat"}

    container = _container(k8s("Deployment", "tenor-assistant"))
    k8s_env = {k: v for k, v in _env_list(container).items() if isinstance(v, str)}
    secret = k8s("Secret", "tenor-api-keys")["stringData"]
    k8s_env.update(secret, TENOR_CONFIG=str(DEPLOY / "tenor.yaml"), TENOR_HOME=str(tmp_path))
    settings = load_settings(environ=k8s_env)
    assert settings.vllm.url == "http://vllm:8000" and settings.chroma_url == "http://chroma:8000"
    assert len(settings.api_keys) == 2
    ref = _env_list(container)["TENOR_API_KEYS"]["secretKeyRef"]
    assert ref == {"name": "tenor-api-keys", "key": "TENOR_API_KEYS"}


def test_probe_paths_and_ports_match_the_servers():
    routes = _routes()
    assert {"/health", "/ready", "/v1/chat/completions", "/v1/documents"} <= routes
    port = load_settings(DEPLOY / "tenor.yaml", environ={}).server.port

    assistant = _container(k8s("Deployment", "tenor-assistant"))
    (container_port,) = [p["containerPort"] for p in assistant["ports"] if p["name"] == "http"]
    assert container_port == port
    assert assistant["livenessProbe"]["httpGet"]["path"] == "/health"
    assert assistant["readinessProbe"]["httpGet"]["path"] == "/ready"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert assistant[probe]["httpGet"]["path"] in routes
        assert assistant[probe]["httpGet"]["port"] == "http"

    dockerfile = (DEPLOY / "images" / "assistant.Dockerfile").read_text()
    assert f"EXPOSE {port}" in dockerfile
    assert re.search(rf"HEALTHCHECK .*\n.*http://127\.0\.0\.1:{port}/health", dockerfile)

    # vLLM: the OpenAI server's /health on the port it is told to listen on.
    vllm = _container(k8s("Deployment", "vllm"))
    vllm_port = int(_arg(vllm["args"], "--port")[0])
    assert [p["containerPort"] for p in vllm["ports"]] == [vllm_port]
    assert all(vllm[p]["httpGet"]["path"] == "/health" for p in ("startupProbe", "readinessProbe", "livenessProbe"))
    assert k8s("Service", "vllm")["spec"]["ports"][0]["port"] == vllm_port
    assert _known_url_port(assistant, "TENOR_VLLM__URL") == vllm_port

    chroma = _container(k8s("StatefulSet", "chroma"))
    assert chroma["readinessProbe"]["httpGet"]["path"] == "/api/v2/heartbeat"
    assert _known_url_port(assistant, "TENOR_CHROMA_URL") == k8s("Service", "chroma")["spec"]["ports"][0]["port"]

    service = k8s("Service", "tenor-assistant")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = k8s("HorizontalPodAutoscaler", "tenor-assistant")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "tenor-assistant" and hpa["spec"]["minReplicas"] >= 2


def _known_url_port(container: dict, name: str) -> int:
    url = _env_list(container)[name]
    return int(url.rsplit(":", 1)[1])


def test_compose_wiring_matches_the_code():
    data = compose_dict()
    services = data["services"]
    port = load_settings(DEPLOY / "tenor.yaml", environ={}).server.port
    vllm_port = int(_arg(services["vllm"]["command"], "--port")[0])
    for name in ("assistant-a", "assistant-b"):
        env = services[name]["environment"]
        assert env["TENOR_VLLM__URL"] == f"http://vllm:{vllm_port}"
        assert env["TENOR_CHROMA_URL"] == "http://chroma:8000"
        assert "./tenor.yaml:/etc/tenor/tenor.yaml:ro" in services[name]["volumes"]
        assert env["TENOR_CONFIG"] == "/etc/tenor/tenor.yaml"
        assert services[name]["expose"] == [str(port)]
    assert "/health" in " ".join(services["vllm"]["healthcheck"]["test"])
    assert "chroma-data:/data" in services["chroma"]["volumes"]

    nginx = (DEPLOY / "proxy" / "nginx.conf").read_text()
    upstreams = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", nginx, re.M)
    assert sorted(upstreams) == [("assistant-a", str(port)), ("assistant-b", str(port))]
    listen = re.search(r"listen\s+(\d+);", nginx).group(1)
    assert services["proxy"]["ports"] == [f"8080:{listen}"]
    body_limit = int(re.search(r"client_max_body_size\s+(\d+)m;", nginx).group(1)) * 1024 * 1024
    assert body_limit == Settings().server.max_body_bytes
    assert "proxy_buffering off" in nginx  # token streams must not be buffered
    assert "proxy_set_header Host $http_host;" in nginx  # keeps the port: the demo page builds URLs from Host


@pytest.mark.parametrize("where", ["compose", "k8s"])
def test_vllm_serves_every_model_the_profiles_ask_for(where):
    """vLLM's --served-model-name and --lora-modules cover engine_model() of every profile,
    and --max-model-len equals the vllm.max_model_len the assistant budgets prompts with."""
    from assistant.engine import engine_model

    if where == "compose":
        args = compose_dict()["services"]["vllm"]["command"]
        volumes = compose_dict()["services"]["vllm"]["volumes"]
        mounts = {v.split(":")[1] for v in volumes}
    else:
        vllm = _container(k8s("Deployment", "vllm"))
        args = vllm["args"]
        mounts = {m["mountPath"] for m in vllm["volumeMounts"]}
    settings = load_settings(DEPLOY / "tenor.yaml", environ={})
    served = set(_arg(args, "--served-model-name"))
    loras = dict(item.split("=", 1) for item in _arg(args, "--lora-modules"))
    assert "--enable-lora" in args
    for profile in settings.profiles.values():
        assert engine_model(profile) in served | set(loras), profile.name
    for path in [*_arg(args, "--model"), *loras.values()]:
        assert any(path.startswith(m + "/") for m in mounts), f"{path} is not on a mounted volume"
    assert int(_arg(args, "--max-model-len")[0]) == settings.vllm.max_model_len
    max_rank = int(_arg(args, "--max-lora-rank")[0])
    assert max_rank >= settings.vllm.max_lora_rank


def test_jobs_run_real_tenor_commands():
    from typer.main import get_command

    from tenor.cli import app

    cli = get_command(app)
    ingest = _container(k8s("Job", "tenor-ingest"))
    assert ingest["args"][0] == "ingest" and ingest["image"].startswith("tenor-assistant:")
    sub = cli.get_command(None, "ingest")
    sub.make_context("ingest", list(ingest["args"][1:]))  # raises on an unknown option

    finetune = _container(k8s("Job", "tenor-finetune"))
    script = " ".join(finetune["args"])
    assert finetune["image"].startswith("tenor-training:")
    assert finetune["resources"]["limits"]["nvidia.com/gpu"] == 1
    for command in script.split("&&"):
        words = command.split()
        assert words[0] == "tenor", command
        group = cli.get_command(None, words[1])
        if words[1] == "model":
            group = group.get_command(None, words[2])
            group.make_context(words[2], words[3:])
        else:
            group.make_context(words[1], words[2:])
    assert _env_list(finetune)["TENOR_EMBED__BACKEND"] == "sentence-transformers"


def test_images_are_multi_stage_non_root_and_pinned():
    for name in ("assistant", "training"):
        text = (DEPLOY / "images" / f"{name}.Dockerfile").read_text()
        froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
        assert len(froms) >= 2, f"{name}: not multi-stage"
        base = re.search(r"ARG PYTHON_IMAGE=(\S+)", text).group(1)
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
        assert re.search(r"^USER 10001", text, re.M), f"{name}: runs as root"
        assert "HEALTHCHECK" in text
        assert "torch==2.13.0" in text
        assert ".dockerignore" and (DEPLOY / "images" / f"{name}.Dockerfile.dockerignore").is_file()
    assistant = (DEPLOY / "images" / "assistant.Dockerfile").read_text()
    runtime = assistant[assistant.rindex("FROM "):]
    assert "torch" not in runtime.replace("no torch", ""), "the runtime stage must not install torch"
    assert '".[serve-light]"' in assistant
    # Every pinned image tag is exact (no latest).
    images = [s.get("image", "") for s in compose_dict()["services"].values()]
    images += [_container(o)["image"] for o in k8s_objects() if o["kind"] in ("Deployment", "StatefulSet", "Job")]
    for image in images:
        # x.y.z, or PostgreSQL's own two-part releases (16.6 is one exact release)
        exact = r":v?\d+\.\d+\.\d+" if not image.startswith("postgres:") else r":\d+\.\d+-alpine\d+\.\d+$"
        assert re.search(exact, image), f"unpinned image {image!r}"


def test_serve_light_extra_has_no_torch():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    light = extras["serve-light"]
    expanded = list(light)
    for item in light:
        match = re.fullmatch(r"tenor\[(.+)\]", item)
        if match:
            expanded += [d for extra in match.group(1).split(",") for d in extras[extra]]
    heavy = [d for d in expanded if re.match(r"(torch|transformers|sentence-transformers|vllm|peft)\b", d)]
    assert not heavy, heavy
