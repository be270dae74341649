#!/usr/bin/env bash
# Create .venv and install gifsearch (editable) with its test tools. Safe to re-run: it
# reinstalls only when pyproject.toml or constraints.txt changed.
#
# constraints.txt pins torch==2.13.0: on machines that keep that wheel on local disk it
# installs in seconds (CPU build); elsewhere pip takes the same release from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi
stamp=.venv/.gifsearch-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing gifsearch and its dependencies into .venv" >&2
  # pip warns once per package about file:// index entries it can't use; keep the rest.
  .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]" \
    2> >(grep -v "^WARNING: Location 'file://" >&2)
  echo "$want" > "$stamp"
fi
