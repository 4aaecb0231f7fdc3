"""Python hooks against the demo target: template calls, before and after hooks, failures."""

from __future__ import annotations

import hashlib
from pathlib import Path

from surge.demo_target import DemoTarget
from surge.stats import aggregate, merge_results
from tests.helpers import make_plan, run_in_process

HOOKS = """
import hashlib
import hmac

from surge.hooks import HookFailed

KEY = b"test-key"


def sign(text):
    return hmac.new(KEY, str(text).encode(), hashlib.sha256).hexdigest()


def add_signature(request, variables):
    request["headers"]["X-Signature"] = sign(request["body"].decode())
    request["headers"]["X-Iteration"] = str(variables["$iteration"])


def check_echo(response, variables):
    received = response["json"]["headers"].get("X-Signature")
    if received != sign("hello"):
        raise HookFailed(f"the target got signature {received!r}")
    return {"echoed": response["json"]["method"]}


def boom(response, variables):
    raise ValueError("no good")
"""


def write_hooks(tmp_path: Path) -> Path:
    (tmp_path / "hooks.py").write_text(HOOKS)
    return tmp_path


def test_hooks_sign_requests_check_answers_and_capture(demo_target: DemoTarget, tmp_path: Path) -> None:
    base = write_hooks(tmp_path)
    flow = [
        {
            "post": {
                "url": "/_surge/echo?word={{ sign(word) }}",
                "body": "hello",
                "before": "add_signature",
                "after": "check_echo",
                "expect": [{"json": "$.body_sha256", "equals": hashlib.sha256(b"hello").hexdigest()}],
            }
        },
        {
            "get": {
                "url": "/_surge/echo?m={{ echoed }}",
                "expect": [{"json": "$.query.m[0]", "equals": "POST"}],
            }
        },
    ]
    plan = make_plan(
        demo_target.url,
        hooks="hooks.py",
        variables={"word": "lego"},
        load={"phases": [{"duration": "1s", "rate": 5}]},
        scenarios=[{"name": "signed", "flow": flow}],
        base_dir=base,
    )
    total = aggregate(merge_results([run_in_process(plan, base_dir=base)]))
    assert total.requests == 10 and total.errors == {}


def test_a_hook_that_raises_fails_its_request_as_hook_and_says_why(
    demo_target: DemoTarget, tmp_path: Path
) -> None:
    base = write_hooks(tmp_path)
    plan = make_plan(
        demo_target.url,
        hooks="hooks.py",
        load={"phases": [{"duration": "1s", "rate": 5}]},
        scenarios=[
            {"name": "s", "flow": [{"get": {"url": "/api/mocs", "after": "boom"}}, {"get": "/api/wishlist"}]}
        ],
        base_dir=base,
    )
    result = run_in_process(plan, base_dir=base)
    total = aggregate(merge_results([result]))
    assert total.errors == {"hook": 5}
    assert "GET /api/wishlist" not in demo_target.stats()["by_route"]  # the iteration ended there
    assert any("hook boom failed first with: ValueError: no good" in n for n in result["health"]["notes"])
