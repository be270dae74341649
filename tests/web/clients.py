"""The official API clients the tests drive, installed once from the npm registry (pinned by
tests/clients/package-lock.json) into .cache/test-clients, and run offline from there."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "clients"
INSTALLED = ROOT / ".cache" / "test-clients"
FILES = ("package.json", "package-lock.json", "giphy_client.mjs")
INSTALL_TIMEOUT_S = 300
RUN_TIMEOUT_S = 60


def install_clients() -> Path:
    """Install the pinned clients (npm ci) unless the installed ones match the lock file;
    return the directory their scripts run from."""
    lock = (SOURCE / "package-lock.json").read_bytes()
    stamp = hashlib.sha256(lock).hexdigest()
    marker = INSTALLED / ".installed"
    if not (marker.is_file() and marker.read_text() == stamp):
        shutil.rmtree(INSTALLED, ignore_errors=True)
        INSTALLED.mkdir(parents=True)
        for name in FILES:
            shutil.copy(SOURCE / name, INSTALLED / name)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=INSTALLED,
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        marker.write_text(stamp)
    for name in FILES:  # the scripts may have changed without the lock file
        shutil.copy(SOURCE / name, INSTALLED / name)
    return INSTALLED


def run_giphy_client(base_v1: str, key: str, query: str) -> dict[str, Any]:
    """Run tests/clients/giphy_client.mjs against base_v1 (ending in /v1/); its output."""
    folder = install_clients()
    done = subprocess.run(
        ["node", "giphy_client.mjs", base_v1, key, query],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result
