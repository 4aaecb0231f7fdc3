"""The Lambda asset as `cdk deploy` builds it (pip with manylinux cp312 wheels, no Docker), imported
the way Lambda would: Python 3.12 with only the asset and the runtime's own boto3 on the path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.infra, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def python312() -> str | None:
    """A Python 3.12 that runs (pyenv's shims may exist and still refuse to)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
    candidates = [*sorted(str(p) for p in pyenv.glob("3.12*/bin/python3.12")), shutil.which("python3.12")]
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


def test_the_built_asset_imports_every_handler_on_a_consistent_boto3_pair(tmp_path: Path) -> None:
    pytest.importorskip("aws_cdk")
    interpreter = python312()
    if interpreter is None:
        pytest.skip("no Python 3.12 here to import the cp312 asset with")
    import boto3
    import botocore

    from infra.bundling import PipLocalBundling, lambda_requirements

    asset = tmp_path / "asset"
    asset.mkdir()
    PipLocalBundling(
        functions_dir=ROOT / "functions",
        package_dirs=[ROOT / "surge", ROOT / "reports"],
        requirements=lambda_requirements(ROOT / "pyproject.toml"),
        skip_pip_install=False,
    ).try_bundle(str(asset), None)  # type: ignore[arg-type]
    names = {p.name.split("-")[0].lower() for p in asset.iterdir()}
    assert not names & {"setuptools", "pbr", "pip", "pkg_resources", "_distutils_hack"}
    # The runtime's boto3 (here: this environment's, another release), after the asset on the path.
    runtime = tmp_path / "var-runtime"
    runtime.mkdir()
    for module in (boto3, botocore):
        (runtime / module.__name__).symlink_to(Path(module.__file__).parent)
    probe = f"""
import sys, json
sys.path[:0] = [{str(asset)!r}, {str(runtime)!r}]
import functions.prepare, functions.worker, functions.aggregate, functions.collect, functions.report
import surge.cloud.handlers, surge.engine.aws.pool, aiobotocore, boto3, botocore
import reports.html  # the Report function renders HTML: its stylesheet, script and chart library travel along
assert reports.html.report_css() and reports.html._asset("report.js") and reports.html._library()
from importlib.metadata import requires
pin = [r for r in requires("aiobotocore") if r.startswith("botocore")][0]
print(json.dumps({{"boto3": boto3.__version__, "botocore": botocore.__version__, "pin": pin,
                  "boto3_from": boto3.__file__, "botocore_from": botocore.__file__}}))
"""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SURGE_BUCKET": "b",
        "SURGE_TABLE": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = subprocess.run(
        [interpreter, "-S", "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    # Both from the asset, one release: boto3 x.y.z goes with botocore x.y.z.
    assert found["boto3_from"].startswith(str(asset)) and found["botocore_from"].startswith(str(asset))
    assert found["boto3"].split(".")[:3] == found["botocore"].split(".")[:3], found
