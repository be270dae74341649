"""docker-compose.yml and the Dockerfile parse and agree with the code.

No Docker engine runs on our machines, so these tests read both files and check them
against what the app really reads: service names, ports, environment variable names,
and the container's command line parsed by the real CLI parser.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from gifsearch.cli import build_parser
from gifsearch.serve_cmd import DEFAULT_PORT, ServeSettings
from search_app.settings import DEFAULT_CHROMA_PORT, env_vars

ENV_VARS = env_vars()
AUTH_ENV_VAR = env_vars(ServeSettings)["auth"]
KEYS_ENV_VAR = env_vars(ServeSettings)["api_keys"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, joining continued lines."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_chroma_service_uses_the_official_image_a_named_volume_and_a_healthcheck(
    compose: dict,
) -> None:
    chroma = compose["services"]["chroma"]
    assert chroma["image"].startswith("chromadb/chroma:")
    volume = chroma["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]  # a named volume, not a bind mount
    assert "healthcheck" in chroma and chroma["healthcheck"]["test"]
    assert any(p.endswith(f":{DEFAULT_CHROMA_PORT}") for p in chroma["ports"])


def test_app_waits_for_healthy_chroma_and_points_at_it(compose: dict) -> None:
    app = compose["services"]["app"]
    assert app["depends_on"]["chroma"]["condition"] == "service_healthy"
    env = app["environment"]
    readable = set(ENV_VARS.values()) | set(env_vars(ServeSettings).values())
    assert set(env) <= readable, f"variables the app never reads: {set(env) - readable}"
    assert env[ENV_VARS["chroma_host"]] == "chroma"  # the service name
    assert int(env[ENV_VARS["chroma_port"]]) == DEFAULT_CHROMA_PORT
    assert AUTH_ENV_VAR in env  # serving beyond localhost requires a password
    assert KEYS_ENV_VAR in env  # ...and API keys
    assert f"{DEFAULT_PORT}:{DEFAULT_PORT}" in app["ports"]
    assert (ROOT / app["build"]["context"] / app["build"]["dockerfile"]).is_file()


def test_dockerfile_copies_what_exists_and_exposes_the_serve_port() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.1")
    for kind, args in instructions:
        if kind == "COPY":
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
    assert ("EXPOSE", str(DEFAULT_PORT)) in instructions


def test_container_command_is_ingest_then_serve_as_the_cli_parses_them() -> None:
    cmd = dict(dockerfile_instructions())["CMD"]
    shell_line = yaml.safe_load(cmd)[-1]  # CMD ["sh", "-c", "..."] is a JSON/YAML list
    steps = [shlex.split(step.replace("exec ", "")) for step in shell_line.split("&&")]
    assert [step[:2] for step in steps] == [["gifsearch", "ingest"], ["gifsearch", "serve"]]
    parser = build_parser()
    ingest, serve = (parser.parse_args(step[1:]) for step in steps)
    assert ingest.command == "ingest"
    assert (serve.command, serve.host, serve.port) == ("serve", "0.0.0.0", DEFAULT_PORT)
