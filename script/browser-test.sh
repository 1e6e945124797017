#!/usr/bin/env bash
# The web page's tests in a real headless browser: Debian's chromium driven by Playwright,
# against `genim serve` on anvil. Works in a fresh clone (as root, or with sudo for apt):
#   script/browser-test.sh            # all tests
#   script/browser-test.sh -g refund  # arguments go to `playwright test`
#   GENIM_SCREENSHOTS=1 script/browser-test.sh   # also rewrite docs/gallery.png and docs/token.png
set -euo pipefail
cd "$(dirname "$0")/.."

script/browser-deps.sh
[ -x node_modules/.bin/anvil ] || npm ci --no-audit --no-fund
(cd tests/browser && npm ci --no-audit --no-fund)
# cargo decides whether genim needs building (quick when it is up to date).
cargo build --quiet --bin genim
cd tests/browser
exec npx playwright test "$@"
