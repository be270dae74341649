#!/usr/bin/env bash
# Install Debian's headless Chromium for the real-browser tests (Playwright drives it;
# Playwright's own browser download is never used). Exits 1 with one line saying why when
# it can't: scripts/test.sh then runs every test but the browser group.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup: Debian's chromium is missing and this user can't install it: run (as root) apt-get install chromium chromium-driver" >&2
  exit 1
fi
echo "setup: installing chromium and chromium-driver (apt)" >&2
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >/dev/null 2>&1; then
  echo "setup: apt-get could not install chromium (offline, or no Debian repository?)" >&2
  exit 1
fi
