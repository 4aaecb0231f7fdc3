#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, lint, type-check, then every test (slow ones too).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. .venv/bin/activate
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy --strict"; mypy surge/ reports/
echo "== pytest"
set +e
# Two processes, a test file each at a time: most of the suite's time is waiting (workflow Wait
# states, load windows), which overlaps. `./scripts/test.sh -n 0` runs it in one process.
pytest -n 2 --dist loadfile "$@"
rc=$?
set -e
if [ "$rc" = "5" ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
