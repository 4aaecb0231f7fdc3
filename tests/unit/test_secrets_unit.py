"""surge/secrets.py without AWS: which references a plan makes, validation's stand-ins, and errors."""

from __future__ import annotations

from typing import Any

import pytest

from surge.errors import UserError
from surge.plan_load import parse_plan
from surge.plan_refs import WithSecretPlaceholders
from surge.secrets import env_refs, resolve_secrets, secret_refs, stored_name
from surge.template import TemplateError, compile_template
from tests.unit.test_plan import plan_data, problems, with_flow


def test_references_are_found_once_each_in_order() -> None:
    plan = parse_plan(
        with_flow(
            {
                "get": {
                    "url": "/?k={{ $ssm.b }}",
                    "headers": {"A": "{{ $secret.a/x }}", "B": "{{$secret.a/x}}"},
                }
            },
            {"get": {"url": "/{{ $env.HOME }}"}},
        ),
        environ={"HOME": "/root"},
    )
    assert secret_refs(plan) == [("ssm", "b"), ("secret", "a/x")]
    assert env_refs(plan) == ["HOME"]
    assert stored_name("secret", "a/x") == "surge/a/x" and stored_name("ssm", "b") == "/surge/b"


def test_validation_stands_in_for_values_and_the_engine_never_does() -> None:
    assert compile_template("{{ $secret.t }}", WithSecretPlaceholders({})).render({}, None) == "<secret>"  # type: ignore[arg-type]
    with pytest.raises(TemplateError, match="was not read from Secrets Manager before the run"):
        compile_template("Bearer {{ $secret.t }}", {})
    assert compile_template("{{ $secret.t }}", {"$secret.t": "v"}).render({}, None) == "v"  # type: ignore[arg-type]
    (message,) = problems(with_flow({"get": {"url": "/", "headers": {"A": "{{ $secret.bad name }}"}}}))
    assert "a secret's name is letters, digits" in message


class Missing:
    def get_secret_value(self, **_: Any) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "GetSecretValue")


def test_a_missing_secret_says_how_to_store_it() -> None:
    plan = parse_plan(plan_data(defaults={"headers": {"A": "{{ $secret.api }}"}}))
    with pytest.raises(UserError, match=r"surge/api does not exist; store it with `surge secret put api`"):
        resolve_secrets(plan, secretsmanager=Missing())
