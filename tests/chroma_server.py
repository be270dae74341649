"""Start a real Chroma server (the `chroma run` CLI from the chromadb package) for tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 60.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def chroma_process(
    data_dir: Path, stop_timeout_s: float = 10.0
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Run `chroma run --path data_dir/db` on a free port, its output added to
    data_dir/server.log; yield (port, process) once it answers; stop it after."""
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    with (data_dir / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [
                str(chroma),
                "run",
                "--path",
                str(data_dir / "db"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_heartbeat(port, process)
            yield port, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def run_chroma_server(data_dir: Path) -> Iterator[tuple[str, int]]:
    """Run `chroma run --path data_dir` on a free port; yield (host, port); stop it after."""
    with chroma_process(data_dir) as (port, _):
        yield "127.0.0.1", port


def wait_for_heartbeat(port: int, process: subprocess.Popen[bytes]) -> None:
    """Poll the server's heartbeat until it answers (or fail naming the log)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    url = f"http://127.0.0.1:{port}/api/v2/heartbeat"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chroma run exited with {process.returncode}; see server.log")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"chroma run did not answer on port {port} within {START_TIMEOUT_S} s")
