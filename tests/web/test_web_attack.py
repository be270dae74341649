"""The launched app under attack: file-route traversal and internal errors reach no one.

Paths go out byte for byte (http.client), so "../" and its encodings reach the server
instead of being normalized away by the HTTP client.
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.web.conftest import LaunchedApp

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWD = "/etc/passwd"
MARKER_BYTES = 60
REQUEST_TIMEOUT_S = 30

# (raw request path, the file whose content must not come back). {store} is the store's
# absolute path, {store_rel} the same relative to the server's working directory.
FILE_ROUTE_ATTACKS = [
    ("/gradio_api/file={store_rel}/chroma.sqlite3", "{store}/chroma.sqlite3", "store-db-rel"),
    ("/gradio_api/file={store}/../../../../../..{passwd}", PASSWD, "via-store-dir"),
    ("/gradio_api/file=../../../../../..{passwd}", PASSWD, "dotdot"),
    ("/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e{passwd}", PASSWD, "dotdot-enc"),
    ("/gradio_api/file=..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", PASSWD, "slash-enc"),
    ("/gradio_api/file=%252e%252e/%252e%252e/%252e%252e{passwd}", PASSWD, "double-enc"),
    ("/gradio_api/file=..\\..\\..\\..\\..\\..\\etc\\passwd", PASSWD, "backslash"),
    ("/gradio_api/file=%2fetc%2fpasswd", PASSWD, "abs-enc"),
    ("/gradio_api/file=/{passwd}", PASSWD, "double-slash"),
    ("/file={passwd}", PASSWD, "legacy-abs"),
    ("/file=../../../../../..{passwd}", PASSWD, "legacy-dotdot"),
    ("/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e{passwd}", PASSWD, "legacy-dotdot-enc"),
    ("/static/../../../../../..{passwd}", PASSWD, "static-dotdot"),
    ("/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e{passwd}", PASSWD, "static-dotdot-enc"),
    ("/assets/../../../../../..{passwd}", PASSWD, "assets-dotdot"),
    ("/gradio_api/file={repo}/search_app/web/app.py", "{repo}/search_app/web/app.py", "web-py-abs"),
    ("/gradio_api/file=search_app/web/app.py", "{repo}/search_app/web/app.py", "web-py-rel"),
    ("/gradio_api/file={repo}/pyproject.toml", "{repo}/pyproject.toml", "pyproject-abs"),
    ("/gradio_api/file=pyproject.toml", "{repo}/pyproject.toml", "pyproject-rel"),
    ("/gradio_api/file=/proc/self/environ", "/proc/self/environ", "proc-environ"),
]


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET path from url's server exactly as written; return the status and the body."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(
        address.hostname, address.port, timeout=REQUEST_TIMEOUT_S
    )
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def known_content(path: Path) -> bytes:
    """Return the start of path's first line (or first NUL-ended field): proof of a leak."""
    first = path.read_bytes().split(b"\n", 1)[0].split(b"\0", 1)[0][:MARKER_BYTES]
    assert len(first) >= 8, f"{path} has no distinctive first line"
    return first


@pytest.mark.parametrize(
    ("request_path", "secret"),
    [case[:2] for case in FILE_ROUTE_ATTACKS],
    ids=[case[2] for case in FILE_ROUTE_ATTACKS],
)
def test_file_routes_refuse_private_and_system_files(
    web_app: LaunchedApp, request_path: str, secret: str
) -> None:
    store = web_app.settings.store_dir.resolve()
    names = {
        "store": store,
        "store_rel": os.path.relpath(store, Path.cwd()),  # the server shares our cwd
        "repo": REPO_ROOT,
        "passwd": PASSWD,
    }
    marker = known_content(Path(secret.format(**names)))
    status, body = raw_get(web_app.url, request_path.format(**names))
    assert status in (403, 404)
    assert marker not in body


BAD_QUERIES = [{"text": "a dog"}, ["a dog", "a cat"], 12345]


@pytest.mark.parametrize("query", BAD_QUERIES, ids=["object", "list", "number"])
def test_an_internal_error_reaches_the_api_client_without_a_traceback(
    web_app: LaunchedApp, query: object
) -> None:
    client = Client(web_app.url, verbose=False)
    try:
        with pytest.raises(AppError) as raised:
            client.predict(query, 5, api_name="/search")
        message = str(raised.value)
        assert "\n" not in message.strip()
        assert "Traceback" not in message and "Error:" not in message
        assert ".py" not in message and str(REPO_ROOT) not in message
        assert "has no attribute" not in message  # the exception's own text stays inside
        assert len(client.predict("a dog is running", 3, api_name="/search")) == 3  # still up
    finally:
        client.close()


@pytest.mark.parametrize("query", BAD_QUERIES, ids=["object", "list", "number"])
def test_an_internal_error_sends_no_traceback_over_http(
    web_app: LaunchedApp, query: object
) -> None:
    # Gradio's REST route: POST the call, then read its event stream.
    call = httpx.post(
        f"{web_app.url}/gradio_api/call/search", json={"data": [query, 5, 0, None, False]}
    )
    assert call.status_code == 200
    event_id = call.json()["event_id"]
    stream = httpx.get(
        f"{web_app.url}/gradio_api/call/search/{event_id}", timeout=REQUEST_TIMEOUT_S
    )
    text = stream.text
    assert "event: error" in text
    assert "Traceback" not in text and "Error:" not in text and ".py" not in text
    assert "has no attribute" not in text
    for line in text.splitlines():
        if line.startswith("data:"):
            payload = json.loads(line.removeprefix("data:"))
            assert payload is None or len(str(payload).splitlines()) == 1
