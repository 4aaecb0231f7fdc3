"""The redactor (surge/redact.py) and credentials in a URL (surge/engine/request_policy.py)."""

from __future__ import annotations

import base64

from surge.engine.request_policy import credentials_from_url
from surge.plan_load import parse_plan
from surge.redact import MASK, Redactor, redactor_for
from tests.unit.test_plan import plan_data


def test_userinfo_in_any_url_is_masked_without_being_told() -> None:
    r = Redactor()
    assert r.text("GET https://admin:pw@api.example/x failed") == f"GET https://{MASK}@api.example/x failed"
    assert r.text("user@example.com wrote") == "user@example.com wrote"  # not a URL


def test_values_are_masked_in_text_data_and_keys_but_not_in_histograms() -> None:
    r = Redactor({"s3cr3t-value", "abc"})  # three letters are not a credential: never masked
    data = {
        "errors": ["bad s3cr3t-value"],
        "endpoints": {"GET /s3cr3t-value": {"rt": "HISTs3cr3t-value"}},
        "n": 3,
    }
    assert r.data(data) == {
        "errors": [f"bad {MASK}"],
        "endpoints": {f"GET /{MASK}": {"rt": "HISTs3cr3t-value"}},
        "n": 3,
    }
    assert r.text("abc") == "abc"


def test_a_plan_names_its_own_secrets() -> None:
    plan = parse_plan(
        plan_data(
            target="http://svc:tpass-1@127.0.0.1:8080",
            redact=["X-Tenant"],
            variables={"password": "pw-value-1", "region": "eu-west-1"},
            scenarios=[
                {
                    "name": "s",
                    "flow": [
                        {
                            "get": {
                                "url": "/?k={{ $env.KEY }}",
                                "headers": {
                                    "Authorization": "Bearer literal-token-1",
                                    "X-Tenant": "tenant-42",
                                    "X-Trace": "{{ $env.TRACE }}",
                                },
                            }
                        }
                    ],
                }
            ],
        ),
        environ={"KEY": "env-key-1", "TRACE": "trace-1", "UNUSED": "unused-1"},
    )
    secrets = redactor_for(plan, {"KEY": "env-key-1", "TRACE": "trace-1", "UNUSED": "unused-1"}).secrets
    assert {
        "tpass-1",
        "env-key-1",
        "trace-1",
        "literal-token-1",
        "Bearer literal-token-1",
        "tenant-42",
        "pw-value-1",
    } <= secrets
    assert base64.b64encode(b"svc:tpass-1").decode() in secrets  # as Basic auth would carry it
    assert "unused-1" not in secrets and "eu-west-1" not in secrets and "Bearer" not in secrets


def test_credentials_leave_the_url_for_a_basic_header() -> None:
    url, headers = credentials_from_url("http://u%40x:p%3Aw@127.0.0.1:8080/a?b=c@d", {"X": "1"})
    assert url == "http://127.0.0.1:8080/a?b=c@d"
    assert headers == {"X": "1", "Authorization": "Basic " + base64.b64encode(b"u@x:p:w").decode()}
    # A request's own Authorization wins; the URL still loses its userinfo.
    assert credentials_from_url("http://u:p@h/x", {"authorization": "Bearer t"}) == (
        "http://h/x",
        {"authorization": "Bearer t"},
    )
    assert credentials_from_url("http://h/x?to=a@b", {}) == ("http://h/x?to=a@b", {})
