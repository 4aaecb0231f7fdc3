"""Secrets never leave a run: a plan with a secret in every position, run as a user runs it, and
every byte the run wrote or printed searched for each of them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import yaml

from surge.demo_target import DemoTarget

pytestmark = pytest.mark.slow

SECRETS = {
    "target_password": "tgt-pass-7731",
    "request_password": "req-pass-6642",
    "env_bearer": "env-bearer-9001",
    "env_query": "env q&t=/é+4410!",  # characters every encoding changes: sent percent-encoded
    "env_body": "env-body-5523",
    "literal_api_key": "literal-key-9876",
    "listed_header": "listed-hdr-3141",
    "variable": 'var secret/2718&"',
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
            },
            {
                # The same secrets as query parameters the engine encodes itself, in a request that
                # fails: its failure samples keep the request line, query included.
                "name": "query",
                "flow": [
                    {
                        "get": {
                            "url": "/api/wishlist",
                            "query": {"key": "{{ $env.QUERY_TOKEN }}", "p": "{{ password }}"},
                            "expect": [{"status": 299}],
                        }
                    }
                ],
            },
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
        [
            sys.executable,
            "-m",
            "surge.cli",
            "run",
            str(path),
            "--target",
            target,
            "--out",
            str(out),
            "--debug",
            "4",
        ],
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
    # Each secret as it is sent or written anywhere: as is, percent-encoded (both ways), JSON-escaped.
    forms = {
        name: {
            s,
            quote(s, safe=""),
            quote_plus(s),
            quote(s),
            re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(s, safe="")),
            json.dumps(s)[1:-1],
        }
        for name, s in SECRETS.items()
    }
    leaks = [
        (name, form, str(p))
        for name, variants in forms.items()
        for form in variants
        for p, b in written.items()
        if form.encode() in b
    ]
    assert not leaks, leaks
    # The stored plan keeps the references, so `surge report` can re-read it; the target is masked.
    stored = yaml.safe_load((out / "plan.yaml").read_text())
    assert stored["target"].startswith("http://***@")
    assert (
        stored["scenarios"][0]["flow"][0]["request"]["headers"]["Authorization"]
        == "Bearer {{ $env.API_TOKEN }}"
    )


def test_a_value_captured_under_a_redacted_name_is_in_no_output(
    tmp_path: Path, demo_target: DemoTarget
) -> None:
    # The token is known only at run time: the digest the target computes of what setup sent.
    token = hashlib.sha256(b"log me in").hexdigest()
    fetch_token = {
        "post": {
            "url": "/_surge/echo",
            "body": "log me in",
            "capture": [{"json": "$.body_sha256", "as": "sessionToken"}],
        }
    }
    use_token = {
        "get": {
            "url": "/api/wishlist?session={{ sessionToken }}",
            "headers": {"X-Session": "{{ sessionToken }}"},
            "expect": [{"status": 299}],  # fails: its failure samples keep the request
        }
    }
    plan = {
        "name": "captured",
        "target": demo_target.url,
        "redact": ["sessionToken"],
        "thresholds": ["http.error_rate < 1%"],
        "setup": [fetch_token],
        "load": {"phases": [{"duration": "1s", "rate": 5}]},
        "workers": 1,
        "scenarios": [{"name": "s", "flow": [{**fetch_token}, use_token]}],
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "surge.cli", "run", str(path), "--out", str(out), "--debug", "6"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "--- " in proc.stderr  # the debug output was printed
    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != path}
    written[Path("stdout")] = proc.stdout.encode()
    written[Path("stderr")] = proc.stderr.encode()
    leaks = [str(p) for p, b in written.items() if token.encode() in b]
    assert not leaks, leaks
