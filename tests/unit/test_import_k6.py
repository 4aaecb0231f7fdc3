"""The declarative parts of k6 scripts as surge plans (nothing in the script runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from surge.importers import ScriptError, render
from surge.importers.k6 import import_k6
from surge.plan_load import parse_plan

SCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "foreign" / "k6-script.js"


def imported(text: str) -> tuple[dict[str, Any], list[str]]:
    result = import_k6(text, "script.js")
    return yaml.safe_load(render(result)), result.notes


def test_arrival_rate_scenario_requests_checks_sleep_and_thresholds() -> None:
    plan, notes = imported(SCRIPT.read_text())
    assert plan["target"] == "http://127.0.0.1:8080"  # __ENV.BASE_URL's default, the URLs' host
    assert plan["load"] == {
        "phases": [{"duration": "30s", "rate": 10, "ramp_to": 50}, {"duration": "60s", "rate": 50}],
        "max_in_flight": 100,
    }
    assert plan["scenarios"][0]["flow"] == [
        {"get": {"url": "/api/mocs", "name": "list", "expect": [{"status": 200}]}},
        {
            "post": {
                "url": "/v1/events",
                "json": {"type": "order.created", "n": 1},
                "headers": {"Content-Type": "application/json"},
                "expect": [{"status": 202}],
            }
        },
        {"think": "1s"},
    ]
    assert plan["thresholds"] == [
        "http.latency.p95 < 500ms",
        "http.latency.p99 < 1500ms",
        "http.error_rate < 0.01",
        'endpoint["list"].latency.p95 < 300ms',
    ]
    assert any("options.thresholds.checks" in n for n in notes)
    assert any("1 condition(s) other than status" in n for n in notes)
    parse_plan(plan)


def test_vus_and_stages() -> None:
    text = """
import http from 'k6/http';
import { sleep } from 'k6';
export const options = { vus: 5, duration: '2m' };
export default function () { http.get('http://127.0.0.1:9/x'); sleep(0.5); }
"""
    plan, _ = imported(text)
    assert plan["load"] == {"phases": [{"duration": "120s", "users": 5}]}
    assert plan["scenarios"][0]["flow"] == [{"get": {"url": "/x"}}, {"think": "500ms"}]
    staged = text.replace(
        "{ vus: 5, duration: '2m' }",
        "{ stages: [{duration: '30s', target: 20}, {duration: '1m', target: 0}] }",
    )
    plan, _ = imported(staged)
    assert plan["load"]["phases"] == [
        {"duration": "30s", "users": 0, "ramp_to": 20},
        {"duration": "60s", "users": 20, "ramp_to": 0},
    ]


def test_exec_function_setup_and_what_is_computed() -> None:
    text = """
import http from 'k6/http';
export const options = {
  scenarios: {
    a: { executor: 'constant-vus', vus: 3, duration: '10s', exec: 'browse' },
    b: { executor: 'constant-arrival-rate', rate: 120, timeUnit: '1m', duration: '10s' },
  },
};
export function setup() { http.post('http://127.0.0.1:9/api/login', { user: 'a' }); }
export function browse() {
  http.get('http://127.0.0.1:9/api/mocs');
  http.get(`http://127.0.0.1:9/api/mocs/${Math.floor(Math.random() * 9)}`);
}
"""
    plan, notes = imported(text)
    assert plan["load"] == {"phases": [{"duration": "10s", "users": 3}]}
    assert plan["scenarios"] == [{"name": "browse", "flow": [{"get": {"url": "/api/mocs"}}]}]
    assert plan["setup"] == [{"post": {"url": "/api/login", "form": {"user": "a"}}}]
    assert any("2 scenarios run at once" in n for n in notes)
    assert any("a URL computed in JavaScript" in n for n in notes)


def test_what_is_not_a_k6_script() -> None:
    with pytest.raises(ScriptError, match="does not import k6"):
        import_k6("console.log(1)", "x.js")
    with pytest.raises(ScriptError, match="no function default"):
        import_k6("import http from 'k6/http';\n", "x.js")


@pytest.mark.parametrize(
    ("script", "said"),
    [
        (
            "import http from 'k6/http';\nexport const options = 42;\nexport default function () { http.get('http://x/'); }\n",
            "options (line 2) is not an object literal",
        ),
        (
            "import http from 'k6/http';\nexport default function () {\n  http.get('http://x/');\n",
            "line 2: '{' is never closed",
        ),
        (
            "import http from 'k6/http';\nexport default function () { http.get('http://x/')); }\n",
            "')' closes",
        ),
    ],
)
def test_a_broken_script_is_refused_never_given_an_invented_load(script: str, said: str) -> None:
    with pytest.raises(ScriptError) as exc:
        import_k6(script, "broken.js")
    assert said in str(exc.value)


def test_brackets_inside_strings_and_template_literals_are_not_code() -> None:
    script = (
        "import http from 'k6/http';\n"
        "export default function () {\n"
        "  http.get(`http://x/a?q=${encodeURIComponent('(')}`);\n"
        "  http.get('http://x/b?s=}{');\n"
        "}\n"
    )
    assert import_k6(script, "ok.js").plan["scenarios"]


def test_options_computed_in_javascript_count_as_not_imported() -> None:
    # The load then is surge's default, not the script's: the import must not say it is.
    script = """
import http from 'k6/http';
const N = __ENV.VUS || 10;
export const options = { vus: N * 2, duration: '30s' };
export default function () { http.get('http://127.0.0.1:8080/api/mocs'); }
"""
    result = import_k6(script, "computed.js")
    assert result.lost == 1 and any("set the load by hand" in n for n in result.notes)
    literal = import_k6(script.replace("N * 2", "20"), "literal.js")
    assert literal.lost == 0
