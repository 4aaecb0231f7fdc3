#!/usr/bin/env bash
# The main job: install, start the bundled demo API on loopback, run the quickstart plan against
# it, and end with the report on disk and the verdict printed. Exit code: surge's (0 pass, 1 fail).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh run  # only what a load test needs (the tests need more: scripts/setup.sh)
. .venv/bin/activate

PORT=${SURGE_DEMO_PORT:-$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
surge demo-target --port "$PORT" --latency-ms 8 --jitter-ms 6 > /tmp/surge-demo-target.log 2>&1 &
TARGET_PID=$!
trap 'kill $TARGET_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  python - "$PORT" <<'PY' && break
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
except OSError:
    sys.exit(1)
PY
  sleep 0.1
done

set +e
surge run examples/quickstart.yaml --target "http://127.0.0.1:$PORT" "$@"
rc=$?
set -e
exit "$rc"
