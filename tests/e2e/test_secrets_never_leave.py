"""Secrets never leave a run: a plan with a secret in every position, run as a user runs it, and
every byte the run wrote or printed searched for each of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from surge.demo_target import DemoTarget

pytestmark = pytest.mark.slow

SECRETS = {
    "target_password": "tgt-pass-7731",
    "request_password": "req-pass-6642",
    "env_bearer": "env-bearer-9001",
    "env_query": "env-query-4410",
    "env_body": "env-body-5523",
    "literal_api_key": "literal-key-9876",
    "listed_header": "listed-hdr-3141",
    "variable": "var-secret-2718",
}


def test_a_secret_in_every_position_is_in_no_output(tmp_path: Path, demo_target: DemoTarget) -> None:
    host = demo_target.url.split("//", 1)[1]
    plan = {
        "name": "secrets",
        "target": demo_target.url,
        "redact": ["X-Custom-Auth"],
        "variables": {"password": SECRETS["variable"]},
        "load": {"phases": [{"duration": "1s", "rate": 10}]},
        "workers": 1,
        "thresholds": ["http.error_rate < 100%"],
        "scenarios": [
            {
                "name": "all",
                "flow": [
                    {
                        "get": {
                            "url": "/api/mocs?key={{ $env.QUERY_TOKEN }}&p={{ password }}",
                            "headers": {
                                "Authorization": "Bearer {{ $env.API_TOKEN }}",
                                "X-API-Key": SECRETS["literal_api_key"],
                                "X-Custom-Auth": SECRETS["listed_header"],
                            },
                        }
                    },
                    {"post": {"url": "/api/events", "json": {"token": "{{ $env.BODY_TOKEN }}", "n": 1}}},
                    # A request that fails with its URL in the error: the message is masked too.
                    {
                        "get": {
                            "url": f"http://probe:{SECRETS['request_password']}@{host}/nowhere",
                            "expect": [{"status": 200}],
                        }
                    },
                ],
            }
        ],
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    env = {
        **os.environ,
        "API_TOKEN": SECRETS["env_bearer"],
        "QUERY_TOKEN": SECRETS["env_query"],
        "BODY_TOKEN": SECRETS["env_body"],
    }
    target = demo_target.url.replace("//", f"//admin:{SECRETS['target_password']}@", 1)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "surge.cli", "run", str(path), "--target", target, "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert demo_target.stats()["requests"] > 0, proc.stdout + proc.stderr  # used, not refused
    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != path}
    assert out / "report.html" in written and tmp_path / "surge-runs" / "history.sqlite" in written
    written[Path("stdout")] = proc.stdout.encode()
    written[Path("stderr")] = proc.stderr.encode()
    leaks = [(name, str(p)) for name, s in SECRETS.items() for p, b in written.items() if s.encode() in b]
    assert not leaks, leaks
    # The stored plan keeps the references, so `surge report` can re-read it; the target is masked.
    stored = yaml.safe_load((out / "plan.yaml").read_text())
    assert stored["target"].startswith("http://***@")
    assert (
        stored["scenarios"][0]["flow"][0]["request"]["headers"]["Authorization"]
        == "Bearer {{ $env.API_TOKEN }}"
    )
