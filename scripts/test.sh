#!/usr/bin/env bash
# The README's test command (after setup): lint, format check and type check, then the
# whole test suite offline. Every group runs where it can; on a machine where Debian's
# Chromium can't be installed (no root, no apt) the browser group is left out and one line
# says so, and the rest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "test: $*" >&2; }

say "ruff check"
.venv/bin/ruff check .
say "ruff format --check"
.venv/bin/ruff format --check .
say "mypy"
.venv/bin/mypy

marks="not slow"
if ! why=$(scripts/setup-browser.sh 2>&1); then
  say "left out the browser group (headless Chromium): ${why#setup: }"
  marks="$marks and not browser"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "left out the client group (official API clients): Node.js and npm are not installed"
  marks="$marks and not client"
fi
HF_HUB_OFFLINE=1 exec .venv/bin/pytest -m "$marks" "$@"
