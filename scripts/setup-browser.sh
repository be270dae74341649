#!/usr/bin/env bash
# Install Debian's headless Chromium for the real-browser tests (Playwright drives it;
# Playwright's own browser download is never used).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup: the browser tests need Debian's chromium: apt-get install chromium chromium-driver" >&2
  exit 1
fi
echo "setup: installing chromium and chromium-driver (apt)" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
