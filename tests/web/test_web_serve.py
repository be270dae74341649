"""`gifsearch serve` through the CLI entry point: refusals in one line, and a real launch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from gifsearch.cli import main
from gifsearch.serve_cmd import check_collection
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from search_app.store.binding import ModelBinding
from search_app.store.client import GifStore
from tests.chroma_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5"], ids=["any", "lan"])
def test_public_host_without_auth_is_refused(
    host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("GIFSEARCH_AUTH", raising=False)
    assert main(["serve", "--host", host, "--store", str(tmp_path / "store")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"refusing to serve on {host} without a password" in err and "GIFSEARCH_AUTH" in err


def test_a_password_flag_is_not_offered(capsys: pytest.CaptureFixture[str]) -> None:
    """A password on the command line shows in `ps`: only a file or the environment."""
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--auth", "user:secret"])
    assert exit_info.value.code == 2
    assert "secret" not in capsys.readouterr().err  # the refusal doesn't repeat it


@pytest.mark.parametrize(
    "auth", ["nocolon", ":secret", "user:"], ids=["no-colon", "no-user", "no-pw"]
)
def test_malformed_auth_file_exits_1(
    auth: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("GIFSEARCH_AUTH", raising=False)
    (tmp_path / "login").write_text(auth + "\n")
    code = main(["serve", "--auth-file", str(tmp_path / "login"), "--store", str(tmp_path / "s")])
    assert code == 1
    err = capsys.readouterr().err
    assert "user:password" in err and "secret" not in err


def test_malformed_auth_env_var_exits_1(
    monkeypatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GIFSEARCH_AUTH", "just-a-password")
    assert main(["serve", "--store", str(tmp_path / "store")]) == 1
    assert "user:password" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["0", "70000", "http"], ids=["zero", "too-big", "text"])
def test_bad_port_exits_2(port: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", port])
    assert exit_info.value.code == 2


def test_missing_collection_says_how_to_fill_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main(["serve", "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f'no collection "gifs" in {store}/' in err
    assert f"gifsearch ingest --store {store}" in err
    assert not store.exists()  # serve never creates an empty store


def test_empty_collection_says_how_to_fill_it(
    empty_settings: Settings, minilm, capsys: pytest.CaptureFixture[str]
) -> None:
    store = GifStore(empty_settings, create=True)
    store.ensure_collection(ModelBinding(minilm.name, "minilm", minilm.dimension))
    assert main(["serve", "--store", str(empty_settings.store_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f'collection "gifs" in {empty_settings.store_dir}/ is empty' in err
    assert f"fill it first: gifsearch ingest --store {empty_settings.store_dir}\n" in err


def test_serve_launches_locally_behind_the_auth_from_the_environment(
    web_settings: Settings,
) -> None:
    port = free_port()
    env = {**os.environ, "GIFSEARCH_AUTH": "alice:wonderland", "GIFSEARCH_DEVICE": "cpu"}
    command = [sys.executable, "-m", "gifsearch", "serve", "--port", str(port)]
    command += ["--store", str(web_settings.store_dir)]
    server = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server)
        assert httpx.get(f"{url}/config").status_code == 401  # nothing without a login
        client = Client(url, auth=("alice", "wonderland"), verbose=False)
        results = client.predict("a dog is running", 3, api_name="/search")
        assert len(results) == 3 and results[0]["score"] >= results[-1]["score"]
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert f"at {url}" in err and "Traceback" not in err


def wait_for_server(url: str, server: subprocess.Popen) -> None:
    """Poll url until it answers, failing early if the server process exits."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve exited {server.returncode}: {server.stderr.read()}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.25)
    pytest.fail(f"serve did not answer at {url} within {START_TIMEOUT_S} s")


def test_serve_opens_the_store_once(web_settings: Settings, cached_loader) -> None:
    """The store checked for rows is the engine's: opening one checks the index files
    whole and loads the index (0.9 s and 3.1 s at a million rows), so not twice."""
    store = check_collection(web_settings, "gifsearch ingest")
    engine = SearchEngine.open(web_settings, loader=cached_loader, store=store)
    assert engine.store is store
    assert engine.search(SearchRequest("a dog is running", k=3))
