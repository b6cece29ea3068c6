#!/usr/bin/env bash
# setup-chromium.sh: Debian's headless Chromium for the dashboard tests
# (idempotent; `make test` runs it). A test tool's own browser download is
# not possible here, so the tests drive /usr/bin/chromium (override with
# LLMROUTER_CHROMIUM).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x "${LLMROUTER_CHROMIUM:-/nonexistent}" ]; then
  echo "setup-chromium: $(chromium --version 2>/dev/null || echo "$LLMROUTER_CHROMIUM")"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "setup-chromium: chromium is missing; install Debian's chromium package as root" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup-chromium: installing Debian's chromium package"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
chromium --version
