#!/usr/bin/env bash
# Installs what the project needs on a fresh machine, into .venv/.
#   ./scripts/setup.sh        everything: surge with its dev and CDK extras, the node packages (CDK
#                             CLI, asl-validator) and the Debian packages some tests use (Chromium,
#                             nginx, wrk, openssl). What ./scripts/test.sh and CI need.
#   ./scripts/setup.sh run    only what a load test needs: surge and its fast event loop. What
#                             ./scripts/demo.sh needs: seconds, not minutes.
# A step whose inputs did not change since it last succeeded (pyproject.toml, package-lock.json) is
# skipped, so a second run of either script starts at once.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-all}
case "$MODE" in
  all) EXTRAS='.[dev,fast,cdk]' ;;
  run) EXTRAS='.[fast]' ;;
  *) echo "usage: scripts/setup.sh [all|run]" >&2; exit 2 ;;
esac

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi

# The stamp of a finished install: what was installed and from which pyproject.toml.
stamp_of() { printf '%s %s' "$1" "$(sha256sum "$2" | cut -d' ' -f1)"; }
want_py=$(stamp_of "$EXTRAS" pyproject.toml)
have_py=$(cat .venv/.surge-installed 2>/dev/null || true)
# An "all" install covers a "run" one; a "run" install does not cover "all".
if [ "$have_py" != "$want_py" ] && ! { [ "$MODE" = run ] && [ "$have_py" = "$(stamp_of '.[dev,fast,cdk]' pyproject.toml)" ]; }; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$EXTRAS"
  echo "$want_py" > .venv/.surge-installed
fi

[ "$MODE" = all ] || exit 0

if [ -f package-lock.json ] && command -v npm >/dev/null 2>&1; then
  want_npm=$(stamp_of npm package-lock.json)
  if [ ! -d node_modules ] || [ "$(cat node_modules/.surge-installed 2>/dev/null || true)" != "$want_npm" ]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want_npm" > node_modules/.surge-installed
  fi
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
