#!/usr/bin/env bash
# Find Chromium for the browser tests; print its path as the only line on stdout.
#
#   export SLIPSTREAM_TEST_CHROMIUM="$(bash .ci/chromium.sh)"
#
# Uses $SLIPSTREAM_TEST_CHROMIUM when it names a program, else chromium (or chromium-browser)
# on PATH. When none is found and this user may install packages (root, unless
# SLIPSTREAM_TEST_INSTALL=0), installs Debian's chromium with apt-get (about 2 minutes);
# otherwise exits 3 saying so. Playwright drives this binary (its own browser download does
# not work on machines without the internet). Everything but the path goes to stderr.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

find_chromium() {
    if [ -n "${SLIPSTREAM_TEST_CHROMIUM:-}" ] && [ -x "$SLIPSTREAM_TEST_CHROMIUM" ]; then
        echo "$SLIPSTREAM_TEST_CHROMIUM"
        return 0
    fi
    command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null
}

if PATH_FOUND="$(find_chromium)"; then
    echo "$PATH_FOUND"
    exit 0
fi
if ! { [ "$(id -u)" = "0" ] && [ "${SLIPSTREAM_TEST_INSTALL:-1}" != "0" ] \
    && command -v apt-get >/dev/null 2>&1; }; then
    log "no chromium found, and this user may not install it" \
        "(apt-get install chromium, or run as root without SLIPSTREAM_TEST_INSTALL=0)"
    exit 3
fi
log "no chromium found; installing it with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y chromium >&2
PATH_FOUND="$(find_chromium)" || { log "chromium installed but still not found"; exit 1; }
echo "$PATH_FOUND"
