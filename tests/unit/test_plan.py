"""Plan parsing and validation (surge/plan.py): good plans, the seeds' shapes, and one clear problem each."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from surge.errors import PlanError, UserError
from surge.plan import Plan, endpoint_names, phase_names
from surge.plan_checks import semantic_problems
from surge.plan_load import load_plan, parse_plan, plan_model

TARGET = "http://127.0.0.1:8080"


def plan_data(**overrides: Any) -> dict[str, Any]:
    """A minimal valid plan as loaded from YAML; top-level keys can be replaced."""
    data: dict[str, Any] = {
        "name": "minimal",
        "target": TARGET,
        "load": {"phases": [{"duration": "30s", "rate": 5}]},
        "scenarios": [{"name": "s", "flow": [{"get": "/health"}]}],
    }
    data.update(copy.deepcopy(overrides))
    return data


def with_flow(*steps: Any, **overrides: Any) -> dict[str, Any]:
    return plan_data(scenarios=[{"name": "s", "flow": list(steps)}], **overrides)


def with_phases(*phases: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return plan_data(load={"phases": list(phases)}, **overrides)


def problems(data: object, **kwargs: Any) -> list[str]:
    """The problems parse_plan reports (fails the test when the plan is accepted)."""
    with pytest.raises(PlanError) as info:
        parse_plan(data, **kwargs)
    return info.value.problems


def only_problem(data: object, **kwargs: Any) -> str:
    found = problems(data, **kwargs)
    assert len(found) == 1, found
    return found[0]


# -- a minimal plan and defaults ----------------------------------------------------------------------


def test_minimal_plan_and_defaults() -> None:
    plan = parse_plan(plan_data())
    assert isinstance(plan, Plan)
    assert plan.name == "minimal"
    assert plan.target == TARGET
    assert plan.load.model == "open"
    assert plan.load.duration_s == 30.0
    assert plan.load.arrival == "uniform"
    assert plan.allowed_hosts == frozenset({"127.0.0.1"})
    assert plan.workers == "auto"
    assert plan.interval == 1.0
    assert plan.defaults.timeout == 30.0
    step = plan.scenarios[0].flow[0]
    assert step.request is not None
    assert (step.request.method, step.request.url) == ("GET", "/health")
    assert plan.scenarios[0].weight == 1.0
    assert plan.thresholds == []


def test_target_trailing_slash_is_removed() -> None:
    assert parse_plan(plan_data(target="http://127.0.0.1:8080/")).target == TARGET


@pytest.mark.parametrize("data", [[1, 2], "name: x", None, 42])
def test_plan_must_be_a_mapping(data: object) -> None:
    with pytest.raises(PlanError, match="must be a YAML mapping"):
        parse_plan(data)


def test_plan_error_is_a_user_error_listing_problems() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(plan_data(target="ftp://x"))
    err = info.value
    assert isinstance(err, UserError)
    assert err.problems and all(p in str(err) for p in err.problems)


# -- the seeds' load shapes ----------------------------------------------------------------------------


def test_migration_shape_warmup_ramp_sustained_rampdown() -> None:
    plan = parse_plan(
        with_phases(
            {"name": "warm-up", "duration": "60s", "rate": 10},
            {"name": "ramp", "duration": "2m", "rate": 10, "ramp_to": 100},
            {"name": "sustained", "duration": "10m", "rate": 100},
            {"name": "ramp-down", "duration": 60, "rate": 100, "ramp_to": 10},
        )
    )
    levels = [(p.duration, p.start_level, p.end_level) for p in plan.load.phases]
    assert levels == [(60.0, 10.0, 10.0), (120.0, 10.0, 100.0), (600.0, 100.0, 100.0), (60.0, 100.0, 10.0)]
    assert plan.load.duration_s == 840.0
    assert phase_names(plan) == ["warm-up", "ramp", "sustained", "ramp-down"]


SPIKE = (
    {"name": "base", "duration": "1m", "rate": 1000},
    {"name": "spike-up", "duration": "10s", "rate": 1000, "ramp_to": 10000},
    {"name": "spike", "duration": "1m", "rate": 10000},
    {"name": "spike-down", "duration": "10s", "rate": 10000, "ramp_to": 1000},
    {"name": "recover", "duration": "1m", "rate": 1000},
)


def test_spike_needs_max_rate_raised() -> None:
    problem = only_problem(with_phases(*SPIKE))
    assert "limits.max_rate" in problem
    assert "load.phases[1]" in problem
    assert "10000/s" in problem


def test_spike_accepted_with_max_rate_raised() -> None:
    plan = parse_plan(with_phases(*SPIKE, limits={"max_rate": 10000}))
    assert max(p.end_level for p in plan.load.phases) == 10000.0
    assert plan.limits.max_rate == 10000


def test_smoke_30s() -> None:
    plan = parse_plan(with_phases({"duration": "30s", "rate": 1}))
    assert plan.load.duration_s == 30.0
    assert phase_names(plan) == ["phase 1"]


def test_closed_model_users_ramp_think_time() -> None:
    plan = parse_plan(
        plan_data(
            load={
                "phases": [
                    {"name": "ramp", "duration": "2m", "users": 0, "ramp_to": 1000},
                    {"name": "hold", "duration": "10m", "users": 1000},
                ],
                "think_time": "1s",
            }
        )
    )
    assert plan.load.model == "closed"
    assert [(p.start_level, p.end_level) for p in plan.load.phases] == [(0.0, 1000.0), (1000.0, 1000.0)]
    assert plan.load.think_time.is_fixed and plan.load.think_time.mean_s == 1.0
    assert plan.load.pace is None


def test_closed_model_above_max_users_refused() -> None:
    assert "limits.max_users" in only_problem(with_phases({"duration": "1m", "users": 6000}))


def test_duration_above_max_duration_refused() -> None:
    assert "limits.max_duration" in only_problem(with_phases({"duration": "3h", "rate": 1}))


def test_mixed_open_and_closed_phases_refused() -> None:
    problem = only_problem(with_phases({"duration": "1m", "rate": 10}, {"duration": "1m", "users": 10}))
    assert problem.startswith("load:")
    assert "not both" in problem


def test_phase_needs_rate_or_users() -> None:
    problem = only_problem(with_phases({"duration": "1m"}))
    assert problem.startswith("load.phases[0]:")
    assert "'rate'" in problem and "'users'" in problem


# -- durations --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [("90s", 90.0), ("10m", 600.0), ("1m30s", 90.0), ("1h", 3600.0), ("500ms", 0.5), (90, 90.0), (2.5, 2.5)],
)
def test_durations(duration: object, seconds: float) -> None:
    plan = parse_plan(with_phases({"duration": duration, "rate": 1}))
    assert plan.load.phases[0].duration == seconds


@pytest.mark.parametrize(
    ("duration", "fragment"),
    [
        ("abc", "'abc' is not a duration"),
        ("1m30", "is not a duration"),
        ("-5s", "is not a duration"),
        (-5, "cannot be negative"),
        (0, "greater than 0"),
        (True, "expected a duration"),
    ],
)
def test_bad_durations(duration: object, fragment: str) -> None:
    problem = only_problem(with_phases({"duration": duration, "rate": 1}))
    assert problem.startswith("load.phases[0].duration:")
    assert fragment in problem


# -- flows: shorthand, bodies, captures, expectations, weights ------------------------------------------


def test_artillery_shorthand() -> None:
    plan = parse_plan(
        with_flow(
            {"get": "/api/mocs"},
            {"post": {"url": "/v1/events", "json": {"type": "order.created"}, "name": "ingest"}},
            {"delete": "/api/mocs/1"},
            {"think": "500ms"},
            {"request": {"method": "patch", "url": "/x", "body": "raw"}},
        )
    )
    flow = plan.scenarios[0].flow
    get, post, delete, think, patch = flow
    assert get.request is not None and (get.request.method, get.request.url) == ("GET", "/api/mocs")
    assert post.request is not None
    assert (post.request.method, post.request.url) == ("POST", "/v1/events")
    assert post.request.json_body == {"type": "order.created"}
    assert post.request.display_name == "ingest"
    assert delete.request is not None and delete.request.method == "DELETE"
    assert think.request is None and think.think is not None and think.think.mean_s == 0.5
    assert patch.request is not None and (patch.request.method, patch.request.body) == ("PATCH", "raw")
    assert endpoint_names(plan) == {"GET /api/mocs", "ingest", "DELETE /api/mocs/1", "PATCH /x"}


def test_display_name_drops_query_string() -> None:
    plan = parse_plan(with_flow({"get": "/api/gallery?search=castle"}))
    assert endpoint_names(plan) == {"GET /api/gallery"}


def test_captures_of_each_kind_and_expectations() -> None:
    plan = parse_plan(
        with_flow(
            {
                "post": {
                    "url": "/login",
                    "capture": [
                        {"json": "$.data[0].id", "as": "id"},
                        {"regex": r"token=(\w+)", "as": "token", "group": 1},
                        {"header": "X-Request-Id", "as": "rid"},
                    ],
                    "expect": [{"status": [200, 201]}, {"content_type": "json"}, {"body_contains": "ok"}],
                }
            }
        )
    )
    req = plan.scenarios[0].flow[0].request
    assert req is not None
    assert [(c.json_path, c.regex, c.header, c.as_) for c in req.capture] == [
        ("$.data[0].id", None, None, "id"),
        (None, r"token=(\w+)", None, "token"),
        (None, None, "X-Request-Id", "rid"),
    ]
    assert [e.statuses for e in req.expect] == [(200, 201), None, None]
    assert req.expect[1].content_type == "json"
    assert req.expect[2].body_contains == "ok"
    single = parse_plan(with_flow({"get": {"url": "/x", "expect": [{"status": 204}]}}))
    assert single.scenarios[0].flow[0].request is not None
    assert single.scenarios[0].flow[0].request.expect[0].statuses == (204,)


@pytest.mark.parametrize(
    ("capture", "fragment"),
    [
        ({"json": "$.a", "regex": "a(b)", "as": "v"}, "exactly one of 'json', 'regex' or 'header'"),
        ({"json": "$.a", "header": "X-A", "as": "v"}, "exactly one of"),
        ({"as": "v"}, "exactly one of"),
        ({"json": "$[[[", "as": "v"}, "'$[[[' is not a JSONPath expression"),
        ({"regex": "(unclosed", "as": "v"}, "'(unclosed' is not a regular expression"),
        ({"json": "$.a", "as": "not a name"}, "should match pattern"),
    ],
)
def test_bad_captures(capture: dict[str, Any], fragment: str) -> None:
    problem = only_problem(with_flow({"get": {"url": "/x", "capture": [capture]}}))
    assert problem.startswith("scenarios[0].flow[0].request.capture[0]")
    assert fragment in problem


@pytest.mark.parametrize(
    ("step", "where", "fragment"),
    [
        ({"get": {"url": "/x", "expect": [{}]}}, "request.expect[0]", "needs 'status'"),
        ({"post": {"url": "/x", "json": {}, "body": "x"}}, "request", "not json and body"),
        ({"request": {"method": "FETCH", "url": "/x"}}, "request.method", "unknown HTTP method 'FETCH'"),
        ({"get": "x"}, "request.url", "must start with '/'"),
        ({"get": None}, "request.url", "required field is missing"),
        ({"get": {"url": "/x", "foo": 1}}, "request.foo", "unknown field"),
    ],
)
def test_bad_requests(step: dict[str, Any], where: str, fragment: str) -> None:
    problem = only_problem(with_flow(step))
    assert problem.startswith(f"scenarios[0].flow[0].{where}:")
    assert fragment in problem


def test_weights() -> None:
    plan = parse_plan(
        plan_data(
            scenarios=[
                {"name": "browse", "weight": 6, "flow": [{"get": "/a"}]},
                {"name": "search", "weight": 3, "flow": [{"get": "/b"}]},
                {"name": "ingest", "flow": [{"get": "/c"}]},
            ]
        )
    )
    assert [s.weight for s in plan.scenarios] == [6.0, 3.0, 1.0]
    problem = only_problem(plan_data(scenarios=[{"name": "s", "weight": 0, "flow": [{"get": "/a"}]}]))
    assert problem.startswith("scenarios[0].weight:")


# -- thresholds -----------------------------------------------------------------------------------------


def test_thresholds_as_strings_and_mappings() -> None:
    plan = parse_plan(
        plan_data(
            thresholds=[
                "http.latency.p95 < 500ms",
                {"check": "http.error_rate < 1%", "abort_on_fail": True, "grace": "30s"},
                'endpoint["GET /health"].p99 < 300ms',
                'phase["phase 1"].throughput > 4/s',
            ]
        )
    )
    parsed = plan.parsed_thresholds()
    assert [(t.metric.canonical, t.target, t.abort_on_fail, t.grace_s) for t in parsed] == [
        ("http.latency.p95", 500.0, False, 0.0),
        ("http.error_rate", 0.01, True, 30.0),
        ('endpoint["GET /health"].latency.p99', 300.0, False, 0.0),
        ('phase["phase 1"].throughput', 4.0, False, 0.0),
    ]


def test_bad_threshold_names_its_index() -> None:
    problem = only_problem(plan_data(thresholds=["http.latency.p95 < 500ms", "http.error_rate < 500ms"]))
    assert problem.startswith("thresholds[1]:")
    assert "compares a rate" in problem


def test_threshold_mapping_fields_checked() -> None:
    found = problems(
        plan_data(thresholds=[{"check": "http.requests > 1", "abortOnFail": True}, {"grace": 1}])
    )
    assert any(p.startswith("thresholds[0].abortOnFail: unknown field") for p in found)
    assert "thresholds[1].check: required field is missing" in found


def test_threshold_for_unknown_endpoint_lists_known_ones() -> None:
    data = with_flow({"get": "/a"}, {"post": {"url": "/b", "name": "create"}})
    data["thresholds"] = ['endpoint["POST /events"].p99 < 300ms']
    problem = only_problem(data)
    assert problem.startswith("thresholds[0]:")
    assert 'no endpoint named "POST /events"' in problem
    assert "GET /a" in problem and "create" in problem


def test_threshold_for_unknown_phase_lists_known_ones() -> None:
    data = with_phases(
        {"name": "warm-up", "duration": 60, "rate": 10},
        {"duration": 60, "rate": 20},
        thresholds=['phase["sustained"].latency.p95 < 500ms'],
    )
    problem = only_problem(data)
    assert 'no phase named "sustained"' in problem
    assert "warm-up, phase 2" in problem


# -- hosts --------------------------------------------------------------------------------------------


def test_absolute_url_to_other_host_refused_naming_the_field() -> None:
    problem = only_problem(with_flow({"get": "https://evil.example.com/steal"}))
    assert problem.startswith("scenarios[0].flow[0].request.url:")
    assert "'evil.example.com' is not allowed" in problem
    assert "allow_hosts" in problem


def test_allow_hosts_permits_other_host_case_insensitively() -> None:
    plan = parse_plan(
        with_flow(
            {"get": "https://api.example.com/x"}, {"get": f"{TARGET}/y"}, allow_hosts=["API.Example.com"]
        )
    )
    assert plan.allowed_hosts == frozenset({"127.0.0.1", "api.example.com"})


def test_templated_host_refused() -> None:
    problem = only_problem(with_flow({"get": "http://{{ host }}/x"}, variables={"host": "127.0.0.1"}))
    assert problem.startswith("scenarios[0].flow[0].request.url:")
    assert "host may not be templated" in problem


def test_allow_hosts_entry_with_port() -> None:
    parse_plan(with_flow({"get": "https://api.example.com:443/x"}, allow_hosts=["api.example.com:443"]))


def test_target_override_changes_allowed_host() -> None:
    data = with_flow({"get": f"{TARGET}/x"})
    assert parse_plan(data).target == TARGET
    problem = only_problem(data, target="http://staging.example.com")
    assert "host '127.0.0.1' is not allowed" in problem
    plan = parse_plan(plan_data(), target="http://staging.example.com:9000/")
    assert plan.target == "http://staging.example.com:9000"
    assert plan.allowed_hosts == frozenset({"staging.example.com"})


def test_bad_target_refused() -> None:
    problem = only_problem(plan_data(target="ftp://127.0.0.1"))
    assert problem.startswith("target:")
    assert "http(s) URL" in problem


# -- variables and templates -------------------------------------------------------------------------


def test_undefined_variable_refused_naming_path() -> None:
    problem = only_problem(with_flow({"get": "/a"}, {"get": "/mocs/{{ mocId }}"}))
    assert problem.startswith("scenarios[0].flow[1].request.url:")
    assert "{{ mocId }} is not defined" in problem


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"get": {"url": "/x", "headers": {"Authorization": "Bearer {{ token }}"}}}, "headers"),
        ({"post": {"url": "/x", "json": {"a": [{"b": "{{ token }}"}]}}}, "json"),
        ({"post": {"url": "/x", "body": "t={{ token }}"}}, "body"),
    ],
)
def test_undefined_variable_in_headers_and_bodies(step: dict[str, Any], field: str) -> None:
    problem = only_problem(with_flow(step))
    assert problem.startswith(f"scenarios[0].flow[0].request.{field}:")
    assert "{{ token }} is not defined" in problem


def test_variable_defined_in_variables() -> None:
    plan = parse_plan(with_flow({"get": "/mocs/{{ mocId }}"}, variables={"mocId": 42}))
    assert plan.variables == {"mocId": 42}


def test_variable_captured_in_earlier_step() -> None:
    capture = {"get": {"url": "/mocs", "capture": [{"json": "$.data[0].id", "as": "mocId"}]}}
    use = {"get": "/mocs/{{ mocId }}"}
    parse_plan(with_flow(capture, use))
    # ... but not when the capture comes later, nor in another scenario.
    assert "{{ mocId }} is not defined" in only_problem(with_flow(use, capture))
    other = plan_data(
        scenarios=[{"name": "a", "flow": [capture]}, {"name": "b", "flow": [use]}],
    )
    assert only_problem(other).startswith("scenarios[1].flow[0].request.url:")


def test_builtins_need_no_definition() -> None:
    parse_plan(
        with_flow(
            {
                "post": {
                    "url": "/v1/events?i={{ $iteration }}&w={{ $worker }}",
                    "json": {"id": "{{ $uuid }}", "n": "{{ $randint(1, 500) }}", "at": "{{ $isotime }}"},
                }
            }
        )
    )


def test_variable_from_csv_data_column(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user_id, token\n1,a\n2,b\n")
    data = with_flow({"get": "/users/{{ user_id }}?t={{ token }}"}, data={"file": "users.csv"})
    plan = parse_plan(data, base_dir=tmp_path)
    assert plan.data is not None and plan.data.order == "sequential"
    # The same plan without the file: the file problem and the undefined variables are both reported.
    found = problems(data, base_dir=tmp_path / "elsewhere")
    assert found[0].startswith("data.file: cannot read")
    assert len(found) == 3


def test_empty_csv_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    found = problems(plan_data(data={"file": "empty.csv"}), base_dir=tmp_path)
    assert found == [f"data.file: {tmp_path / 'empty.csv'} is empty; the first row must name the columns"]


def test_csv_with_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("\ufeffuser_id,token\n1,a\n", encoding="utf-8")
    parse_plan(with_flow({"get": "/users/{{ user_id }}"}, data={"file": "users.csv"}), base_dir=tmp_path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"user_id,token\n", "{path} has a header but no rows; each iteration takes its values from a row"),
        (
            b"user_id,token\n\n\n",
            "{path} has a header but no rows; each iteration takes its values from a row",
        ),
        (b"user_id,token\n1,a\n2,b,c\n", "{path} line 3 has 3 values; the header names 2 columns"),
        (b"user_id,token\n1\n", "{path} line 2 has 1 values; the header names 2 columns"),
        (b"user_id,token\n1,\xff\xfe\n", "{path} is not UTF-8 text; save it as CSV UTF-8"),
    ],
)
def test_csv_that_a_run_could_not_use_is_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    (tmp_path / "users.csv").write_bytes(content)
    found = problems(plan_data(data={"file": "users.csv"}), base_dir=tmp_path)
    assert found == ["data.file: " + problem.format(path=tmp_path / "users.csv")]


def test_csv_blank_lines_and_quoted_newlines_are_rows_as_the_engine_reads_them(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text('user_id,note\n1,"two\nlines"\n\n2,b\n')
    parse_plan(with_flow({"get": "/users/{{ user_id }}"}, data={"file": "users.csv"}), base_dir=tmp_path)


def test_s3_files_are_read_by_cloud_runs_only() -> None:
    data = with_flow(
        {"get": "/users/{{ user_id }}"},
        data={"file": "s3://surge-bucket/plans/users.csv"},
        baseline={"file": "s3://surge-bucket/plans/ecs.json"},
    )
    assert problems(data) == [
        "data.file: s3://surge-bucket/plans/users.csv is read by cloud runs only; use a local file",
        "baseline.file: s3://surge-bucket/plans/ecs.json is read by cloud runs only; use a local file",
    ]
    # In a cloud run Prepare reads them; until then the columns are unknown, so nothing is refused.
    plan = parse_plan(data, cloud=True)
    assert plan.data is not None and plan.data.file == "s3://surge-bucket/plans/users.csv"


def test_columns_read_by_the_caller_are_checked_without_reading_a_file(tmp_path: Path) -> None:
    data = with_flow({"get": "/users/{{ user_id }}"}, data={"file": "s3://b/runs/r1/inputs/data/users.csv"})
    plan = plan_model(data)
    assert semantic_problems(plan, tmp_path, cloud=True, data_columns=["user_id"]) == []
    assert semantic_problems(plan, tmp_path, cloud=True, data_columns=["user"]) == [
        "scenarios[0].flow[0].request.url: {{ user_id }} is not defined; define it in 'variables', as a "
        "data file column, or capture it in an earlier step of this scenario"
    ]


def test_plan_model_checks_structure_only(tmp_path: Path) -> None:
    data = with_flow({"get": "/users/{{ nowhere }}"}, data={"file": "missing.csv"})
    assert plan_model(data).name == "minimal"  # neither the file nor the variable is looked at
    with pytest.raises(PlanError) as info:
        plan_model(plan_data(target="ftp://x"))
    assert info.value.problems[0].startswith("target:")


def test_env_variable_resolved_or_refused() -> None:
    data = with_flow({"get": {"url": "/x", "headers": {"X-Key": "{{ $env.API_KEY }}"}}})
    problem = only_problem(data, environ={})
    assert problem.startswith("scenarios[0].flow[0].request.headers:")
    assert "environment variable API_KEY is not set" in problem
    parse_plan(data, environ={"API_KEY": "secret"})


def test_bad_variables_named_by_key() -> None:
    found = problems(
        plan_data(variables={"k": "{{ $env.NOPE }}", "j": "{{ $bogus }}", "ok": "fine"}), environ={}
    )
    assert len(found) == 2
    assert found[0].startswith("variables.k: environment variable NOPE")
    assert found[1].startswith("variables.j: unknown built-in $bogus")


def test_bad_template_syntax_refused() -> None:
    problem = only_problem(with_flow({"get": "/x/{{ a b }}"}))
    assert problem.startswith("scenarios[0].flow[0].request.url:")
    assert "is neither a variable name, a $built-in nor a hook call" in problem


# -- structural errors ---------------------------------------------------------------------------------


def test_unknown_field_named_by_path() -> None:
    data = with_phases({"duration": "1m", "rate": 1}, {"duration": "1m", "rate": 1, "rampTo": 5})
    assert (
        only_problem(data)
        == "load.phases[1].rampTo: unknown field; did you mean 'ramp_to'? (check its spelling and indentation)"
    )


def test_unknown_top_level_field() -> None:
    assert (
        only_problem(plan_data(scenario=[]))
        == "scenario: unknown field; did you mean 'scenarios'? (check its spelling and indentation)"
    )


def test_missing_required_fields() -> None:
    data = plan_data()
    del data["target"], data["scenarios"]
    assert problems(data) == ["target: required field is missing", "scenarios: required field is missing"]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (plan_data(scenarios=[]), "scenarios"),
        (with_flow(), "scenarios[0].flow"),
        (plan_data(load={"phases": []}), "load.phases"),
    ],
)
def test_empty_lists_refused(data: dict[str, Any], where: str) -> None:
    assert only_problem(data).startswith(f"{where}: List should have at least 1 item")


def test_several_structural_problems_reported_together() -> None:
    data = with_phases(
        {"duration": "1m", "rate": 1},
        {"duration": "1m", "rate": 1, "rampTo": 5},
        {"bogus": 1},
        scenarios=[{"name": "s", "flow": [{"get": {"url": "/x", "foo": 1}}]}],
    )
    assert problems(data) == [
        "load.phases[1].rampTo: unknown field; did you mean 'ramp_to'? (check its spelling and indentation)",
        "load.phases[2].duration: required field is missing",
        "load.phases[2].bogus: unknown field (check its spelling and indentation)",
        "scenarios[0].flow[0].request.foo: unknown field (check its spelling and indentation)",
    ]


def test_several_semantic_problems_reported_together() -> None:
    data = with_flow(
        {"get": "https://evil.example.com/x"},
        {"get": "/a/{{ missing }}"},
        {"get": "/b/{{ $env.NOPE }}"},
        thresholds=["http.latency.p95 < 5%", 'endpoint["nope"].p99 < 1s', "http.error_rate < 1%"],
    )
    found = problems(data, environ={})
    assert len(found) == 5
    assert [p.split(":", 1)[0] for p in found] == [
        "thresholds[0]",
        "thresholds[1]",
        "scenarios[0].flow[0].request.url",
        "scenarios[0].flow[1].request.url",
        "scenarios[0].flow[2].request.url",
    ]


def test_name_pattern() -> None:
    assert only_problem(plan_data(name="a/b")).startswith("name:")


def test_workers_bounded_by_limits() -> None:
    assert "limits.max_workers" in only_problem(plan_data(workers=0))
    assert parse_plan(plan_data(workers=4)).workers == 4


# -- YAML loading ------------------------------------------------------------------------------------


PLAN_YAML = """\
name: from-yaml
target: http://127.0.0.1:8080
load:
  phases:
    - {name: smoke, duration: 30s, rate: 2}
scenarios:
  - name: s
    flow:
      - get: /users/{{ user_id }}
data: {file: users.csv}
thresholds:
  - http.latency.p95 < 500ms
"""


def test_load_plan_resolves_data_file_next_to_plan(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user_id\n7\n")
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN_YAML)
    plan = load_plan(path)
    assert plan.name == "from-yaml"
    assert load_plan(path, target="http://10.0.0.1:81").target == "http://10.0.0.1:81"


def test_load_plan_passes_environ(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        PLAN_YAML.replace("/users/{{ user_id }}", "/k/{{ $env.K }}").replace("data: {file: users.csv}\n", "")
    )
    with pytest.raises(PlanError) as info:
        load_plan(path, environ={})
    assert "environment variable K is not set" in str(info.value)
    assert load_plan(path, environ={"K": "v"}).name == "from-yaml"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: x\ntarget: [unclosed\nload: 1\n", "at line 3, column 5"),
        ("name: x\n  target: y\n", "at line 2, column 9"),
    ],
)
def test_invalid_yaml_gives_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert "is not valid YAML" in info.value.message
    assert where in info.value.message


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read plan"):
        load_plan(tmp_path / "nope.yaml")


# -- hash and target override ----------------------------------------------------------------------------


def test_plan_hash_stable_and_content_sensitive() -> None:
    a = parse_plan(plan_data())
    assert a.plan_hash() == parse_plan(plan_data()).plan_hash()
    assert len(a.plan_hash()) == 12
    # Same content, different spelling: the same plan.
    assert parse_plan(with_phases({"duration": 30, "rate": 5})).plan_hash() == a.plan_hash()
    changed = [
        with_phases({"duration": "31s", "rate": 5}),
        with_phases({"duration": "30s", "rate": 6}),
        plan_data(name="other"),
        plan_data(target="http://127.0.0.1:8081"),
        with_flow({"get": "/other"}),
        plan_data(thresholds=["http.error_rate < 1%"]),
    ]
    hashes = {parse_plan(d).plan_hash() for d in changed}
    assert len(hashes) == len(changed)
    assert a.plan_hash() not in hashes


def test_with_target_round_trips_everything_else() -> None:
    data = with_flow(
        {"post": {"url": "/e", "json": {"id": "{{ $uuid }}"}, "capture": [{"json": "$.id", "as": "id"}]}},
        {"think": "250ms"},
        {"get": {"url": "/e/{{ id }}", "expect": [{"status": [200, 404]}]}},
        thresholds=[{"check": "http.error_rate < 1%", "abort_on_fail": True, "grace": "5s"}],
        variables={"n": 1},
    )
    plan = parse_plan(data)
    moved = plan.with_target("http://example.com:9000/")
    assert moved.target == "http://example.com:9000"
    assert moved.target_host == "example.com"
    assert moved.plan_hash() != plan.plan_hash()
    assert moved.model_copy(update={"target": plan.target}) == plan
    assert plan.with_target(TARGET) == plan
    assert plan.with_target(TARGET).plan_hash() == plan.plan_hash()
    assert plan.target == TARGET  # the original is untouched


def test_plan_hash_names_files_by_name_not_location() -> None:
    """A cloud run reads per-run copies of the plan's files: its hash must match the local plan's."""
    from surge.plan import BaselineFile, DataFile

    a = parse_plan(plan_data())
    local = a.model_copy(
        update={"data": DataFile(file="data/users.csv"), "baseline": BaselineFile(file="ecs.json")}
    )
    cloud = a.model_copy(
        update={
            "data": DataFile(file="s3://b/runs/r1/inputs/data/users.csv"),
            "baseline": BaselineFile(file="s3://b/runs/r1/inputs/baseline/ecs.json"),
        }
    )
    other = a.model_copy(
        update={"data": DataFile(file="data/admins.csv"), "baseline": BaselineFile(file="ecs.json")}
    )
    assert local.plan_hash() == cloud.plan_hash() != other.plan_hash()
    assert local.plan_hash() != a.plan_hash()
