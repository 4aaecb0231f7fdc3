"""A fleet's start within AWS's rates: each worker reads its $ssm references in its own slot, within
Parameter Store's throughput, and the lead is sized so that every slot fits before the segment
starts (surge.cloud.planner.lead_seconds); Collect's wait for CloudWatch fits its own Lambda time."""

from __future__ import annotations

from typing import Any

import pytest

from surge.cloud.collect import COLLECT_WORK_S, ingestion_delay
from surge.cloud.execution_input import RunOptions, parse_options
from surge.cloud.planner import LEAD_MARGIN_S, lead_seconds, plan_segments, secrets_read_s
from surge.errors import PlanError
from surge.plan_load import plan_model
from surge.secrets import ssm_calls


def plan(*refs: str, rate: float = 100_000) -> Any:
    headers = {f"X-{i}": "{{ " + ref + " }}" for i, ref in enumerate(refs)}
    return plan_model(
        {
            "name": "p",
            "target": "https://api.example.com",
            "load": {"phases": [{"duration": "1m", "rate": rate}]},
            "scenarios": [{"name": "s", "flow": [{"get": {"url": "/", "headers": headers}}]}],
            "limits": {"max_workers": 1000, "max_rate": 10_000_000},
        }
    )


def test_parameters_are_read_ten_per_call() -> None:
    assert ssm_calls(plan()) == 0
    assert ssm_calls(plan("$secret.a", "$secret.b")) == 0  # Secrets Manager: 10,000/s, no pacing
    assert ssm_calls(plan(*(f"$ssm.p{i}" for i in range(10)))) == 1
    assert ssm_calls(plan(*(f"$ssm.p{i}" for i in range(11)))) == 2


def test_the_lead_grows_with_the_fleet_reading_parameter_store() -> None:
    options = RunOptions(per_worker_rate=100)  # 1000 workers
    big = plan("$ssm.token")
    cuts = plan_segments(big, options)
    assert max(c.shards for c in cuts) == 1000
    # 1000 calls at 30/s: 34 s of slots, plus the margin: more than the default 30 s lead.
    assert secrets_read_s(big, options, 1000) == pytest.approx(1000 / 30)
    assert lead_seconds(big, options, cuts) == 34 + LEAD_MARGIN_S
    # Without $ssm, or with a small fleet, the default stands.
    assert lead_seconds(plan("$secret.token"), options, cuts) == 30
    few = plan_segments(plan("$ssm.token", rate=1000), RunOptions(per_worker_rate=100))
    assert lead_seconds(plan("$ssm.token", rate=1000), RunOptions(per_worker_rate=100), few) == 30


def test_a_lead_set_too_short_is_refused_naming_the_option() -> None:
    options = parse_options({"per_worker_rate": 100, "lead_seconds": 20})
    big = plan("$ssm.token")
    with pytest.raises(PlanError, match=r"options.lead_seconds: 20 s is too short .* at least 44 s"):
        lead_seconds(big, options, plan_segments(big, options))


def test_a_fleet_no_lead_can_hold_is_refused_with_what_to_do() -> None:
    options = parse_options({"per_worker_rate": 100, "ssm_reads_per_second": 5})
    big = plan("$ssm.token")
    with pytest.raises(PlanError, match=r"Secrets Manager .* higher throughput"):
        lead_seconds(big, options, plan_segments(big, options))
    # With higher throughput enabled (and the option raised), 1000 workers read in about a second.
    fast = parse_options({"per_worker_rate": 100, "ssm_reads_per_second": 900})
    assert lead_seconds(big, fast, plan_segments(big, fast)) == 30


def test_collects_wait_fits_its_lambda_and_says_when_it_was_shortened() -> None:
    assert ingestion_delay(90, 300) == (90, [])
    delay, notes = ingestion_delay(600, 300)
    assert delay == 300 - COLLECT_WORK_S
    (note,) = notes
    assert "options.metrics_delay_seconds=600" in note and "may be missing" in note
    assert ingestion_delay(600, 60)[0] == 0
