"""A worker's cold start, as far as this machine can show it: the Lambda asset built as `cdk deploy`
builds it (pip, manylinux cp312 wheels, no Docker), then N fresh Python 3.12 processes importing
what a worker's first invocation imports (functions.worker, then the core it calls:
surge.cloud.handlers), with only the asset and a runtime's boto3 on the path.

    python bench/cold_import.py            # 10 processes
    python bench/cold_import.py --runs 30

Prints the asset's size and the import time (min/median/max, wall seconds in the process). Lambda
adds its own init (the runtime, downloading and unpacking the asset) on top; the lead time
(options.lead_seconds, 30 s by default) is what must cover both before a segment's start.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "infra"))

PROBE = """
import sys, time, json
sys.path[:0] = [{asset!r}, {runtime!r}]
t = time.perf_counter()
import functions.worker
middle = time.perf_counter()
import surge.cloud.handlers
end = time.perf_counter()
print(json.dumps({{"handler": middle - t, "core": end - middle, "total": end - t}}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    import boto3
    import botocore
    from test_infra_bundle import python312

    from infra.bundling import PipLocalBundling, lambda_requirements

    interpreter = python312() or sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        asset = Path(tmp) / "asset"
        asset.mkdir()
        PipLocalBundling(
            functions_dir=ROOT / "functions",
            package_dirs=[ROOT / "surge", ROOT / "reports"],
            requirements=lambda_requirements(ROOT / "pyproject.toml"),
            skip_pip_install=False,
        ).try_bundle(str(asset), None)  # type: ignore[arg-type]
        size = sum(p.stat().st_size for p in asset.rglob("*") if p.is_file())
        runtime = Path(tmp) / "var-runtime"
        runtime.mkdir()
        for module in (boto3, botocore):
            (runtime / module.__name__).symlink_to(Path(module.__file__).parent)
        probe = PROBE.format(asset=str(asset), runtime=str(runtime))
        env = {"SURGE_BUCKET": "b", "SURGE_TABLE": "t", "AWS_DEFAULT_REGION": "us-east-1"}
        runs = []
        for _ in range(args.runs):
            out = subprocess.run(
                [interpreter, "-S", "-c", probe], capture_output=True, text=True, env=env, check=True
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"asset: {size / 1e6:.1f} MB unzipped; interpreter {interpreter}")
    for key in ("handler", "core", "total"):
        values = sorted(r[key] for r in runs)
        print(
            f"{key:8s} min {values[0]:.3f} s  median {statistics.median(values):.3f} s  max {values[-1]:.3f} s"
            f"  ({len(values)} fresh processes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
