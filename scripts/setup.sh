#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine: a virtualenv with surge and its
# dev/CDK extras, the node packages (CDK CLI, asl-validator), and Chromium for report tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev,fast,cdk]'

if [ -f package-lock.json ] && command -v npm >/dev/null 2>&1; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# Debian packages the tests use when present: headless Chromium opens the HTML report; nginx (with
# the echo module), wrk and openssl let the benchmark smoke tests run instead of skipping.
want=()
command -v chromium >/dev/null 2>&1 || [ "${SURGE_SKIP_CHROMIUM:-0}" = "1" ] || want+=(chromium)
command -v nginx >/dev/null 2>&1 || want+=(nginx libnginx-mod-http-echo)
command -v wrk >/dev/null 2>&1 || want+=(wrk)
command -v openssl >/dev/null 2>&1 || want+=(openssl)
if [ "${#want[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null) \
      || echo "setup: could not install ${want[*]}; the tests needing them will be skipped" >&2
  else
    echo "setup: ${want[*]} missing and cannot apt-get them; the tests needing them will be skipped" >&2
  fi
fi
