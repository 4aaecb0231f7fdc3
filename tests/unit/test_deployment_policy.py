"""The deployment's allow-list of target hosts and its hooks switch (surge.cloud.deployment)."""

from __future__ import annotations

from typing import Any

import pytest

from functions import contracts
from surge.cloud.deployment import (
    CTX_ALLOW_HOOKS,
    CTX_ALLOWED_TARGETS,
    DeploymentPolicy,
    host_allowed,
    parse_host_patterns,
    policy_of,
)
from surge.errors import PlanError
from surge.plan_load import plan_model


def plan(**overrides: Any) -> Any:
    data: dict[str, Any] = {
        "name": "p",
        "target": "https://api.example.com",
        "load": {"phases": [{"duration": "1s", "rate": 1}]},
        "scenarios": [{"name": "s", "flow": [{"get": "/"}]}],
        **overrides,
    }
    return plan_model(data)


@pytest.mark.parametrize(
    ("host", "patterns", "ok"),
    [
        ("api.example.com", ["api.example.com"], True),
        ("API.Example.com", ["api.example.com"], True),
        ("api.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),  # a *.domain covers subdomains only
        ("evilexample.com", ["*.example.com"], False),
        ("api.example.com.evil.net", ["api.example.com"], False),
        ("10.1.2.3", ["10.0.0.0/8"], True),
        ("11.1.2.3", ["10.0.0.0/8"], False),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("anything.net", ["*"], True),
        ("api.example.com", [], False),  # nothing set: nothing allowed
    ],
)
def test_hosts(host: str, patterns: list[str], ok: bool) -> None:
    assert host_allowed(host, patterns) is ok


def test_patterns_parse_from_text_or_a_list_and_refuse_urls() -> None:
    assert parse_host_patterns(" API.example.com, *.staging.example.com ,,10.0.0.0/8") == (
        "api.example.com",
        "*.staging.example.com",
        "10.0.0.0/8",
    )
    assert parse_host_patterns(["a.example.com"]) == ("a.example.com",)
    assert parse_host_patterns(None) == ()
    for bad in (
        "https://api.example.com",
        "api.example.com:443",
        "api.example.com/x",
        "*.",
        "a*.example.com",
    ):
        with pytest.raises(ValueError, match="is not a host"):
            parse_host_patterns(bad)


def test_a_plan_whose_target_is_outside_is_refused_naming_the_setting() -> None:
    policy = DeploymentPolicy(allowed_targets=("*.staging.example.com",))
    with pytest.raises(PlanError) as err:
        policy.check(plan())
    text = str(err.value) + " ".join(err.value.problems)
    assert "api.example.com is not among the hosts" in text and CTX_ALLOWED_TARGETS in text


def test_every_host_the_plan_may_reach_must_be_allowed_not_only_its_target() -> None:
    policy = DeploymentPolicy(allowed_targets=("api.example.com",))
    policy.check(plan())
    (problem,) = policy.problems(plan(allow_hosts=["auth.example.net"]))
    assert "auth.example.net" in problem
    ab = plan(target=None, targets={"old": "https://api.example.com", "new": "https://new.example.com"})
    assert "new.example.com" in policy.problems(ab)[0]


def test_nothing_set_refuses_every_plan() -> None:
    (problem,) = DeploymentPolicy().problems(plan())
    assert "none set" in problem


def test_hooks_run_only_where_the_deployment_enables_them(tmp_path: Any) -> None:
    hooked = plan(hooks="s3://b/runs/r/inputs/files/hooks-h.py")
    allowed = ("api.example.com",)
    (problem,) = DeploymentPolicy(allowed_targets=allowed).problems(hooked)
    assert problem.startswith("hooks:") and CTX_ALLOW_HOOKS in problem
    assert DeploymentPolicy(allowed_targets=allowed, allow_hooks=True).problems(hooked) == []


def test_the_functions_clients_carry_it_from_their_environment() -> None:
    assert contracts.ENV_ALLOWED_TARGETS == "SURGE_ALLOWED_TARGETS"

    class Clients:
        allowed_targets = "api.example.com"
        allow_hooks = True

    assert policy_of(Clients()) == DeploymentPolicy(("api.example.com",), True)
    assert policy_of(object()) == DeploymentPolicy()  # a client without it allows nothing
