#!/usr/bin/env bash
# The browser the web page's tests drive: Debian's chromium (Playwright drives the system
# browser, so nothing is downloaded from Playwright's CDN). Idempotent: does nothing when a
# chromium is already installed. Needs root (or sudo) the first time.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "chromium is missing: run this script as root" >&2; exit 1; }
    SUDO=sudo
fi
echo "installing chromium (Debian package)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
