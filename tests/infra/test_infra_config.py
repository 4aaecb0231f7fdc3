"""Stack settings from context and the Lambda bundle's inputs (no synth)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import (
    ScheduleSpec,
    parse_log_groups,
    parse_reserved_concurrency,
    parse_schedules,
    skip_pip_install,
)

ROOT = Path(__file__).resolve().parents[2]


def test_schedules_parse_from_list_or_json_text() -> None:
    raw = '[{"name": "nightly", "plan_uri": "s3://b/plans/p.yaml", "cron": "0 2 * * ? *"}]'
    (spec,) = parse_schedules(raw)
    assert spec == ScheduleSpec(name="nightly", plan_uri="s3://b/plans/p.yaml", cron="0 2 * * ? *")
    assert spec.expression == "cron(0 2 * * ? *)"
    assert parse_schedules([]) == parse_schedules(None) == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"name": "bad name!", "plan_uri": "s3://b/p.yaml", "cron": "0 2 * * ? *"}], "use 1-64"),
        ([{"name": "n", "plan_uri": "https://x/p.yaml", "cron": "0 2 * * ? *"}], "s3://<bucket>/<key>"),
        ([{"name": "n", "plan_uri": "s3://b/p.yaml", "cron": "0 2 * * *"}], "needs 6 fields"),
        ([{"name": "n", "plan_uri": "s3://b/p.yaml"}], "needs name, cron and plan"),
        ([{"name": "n", "cron": "0 2 * * ? *"}], "give plan"),
        (
            [{"name": "n", "plan": "plans/p.yaml", "plan_uri": "s3://b/p.yaml", "cron": "0 2 * * ? *"}],
            "one of them",
        ),
        ([{"name": "n", "plan": "nightly.yaml", "cron": "0 2 * * ? *"}], "must be a key under plans/"),
        ([{"name": "n", "plan": "plans/../x.yaml", "cron": "0 2 * * ? *"}], "must be a key under plans/"),
        ([{"name": "n", "plan_uri": "s3://b/p.yaml", "cron": "0 2 * * ? *", "rate": 1}], "unknown keys"),
        ("{not json", "not valid JSON"),
        ({"name": "n"}, "must be a list"),
        (
            [{"name": "n", "plan_uri": "s3://b/p.yaml", "cron": "0 2 * * ? *"}] * 2,
            "duplicate schedule names",
        ),
    ],
)
def test_schedule_mistakes_are_explained(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("*", r"\*").replace("(", r"\(")):
        parse_schedules(raw)


def test_log_groups_parse_from_list_or_json_text() -> None:
    assert parse_log_groups(None) == ()
    assert parse_log_groups('["/ecs/orders", "/aws/rds/*"]') == ("/ecs/orders", "/aws/rds/*")
    with pytest.raises(ValueError, match="list of log group names"):
        parse_log_groups(["arn:aws:logs:eu-west-1:1:log-group:x"])
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_log_groups("[/ecs")


def test_reserved_concurrency_is_a_whole_number_or_nothing() -> None:
    assert parse_reserved_concurrency(None) is None and parse_reserved_concurrency("200") == 200
    with pytest.raises(ValueError, match="whole number"):
        parse_reserved_concurrency("lots")
    with pytest.raises(ValueError, match="at least 1"):
        parse_reserved_concurrency(0)


def test_skip_pip_install_from_context_or_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SURGE_SKIP_PIP_INSTALL", raising=False)
    assert skip_pip_install(None) is False
    assert skip_pip_install("true") is True
    assert skip_pip_install(True) is True
    monkeypatch.setenv("SURGE_SKIP_PIP_INSTALL", "1")
    assert skip_pip_install(False) is True


def test_lambda_requirements_come_from_pyproject_minus_the_runtime() -> None:
    pytest.importorskip("aws_cdk")
    from infra.bundling import lambda_requirements

    requirements = lambda_requirements(ROOT / "pyproject.toml")
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in requirements}
    # aiobotocore pins botocore: boto3 is bundled with it, so the asset holds a consistent pair
    # (test_infra_bundle.py builds and imports it); without aiobotocore the runtime's pair is used.
    assert "boto3" in names and "aiobotocore" in names and "botocore" not in names
    assert {"aiohttp", "pydantic", "aws-lambda-powertools", "uvloop"} <= names
    from infra import bundling

    assert names >= bundling.PINS_BOTOCORE


def test_local_bundling_copies_handlers_and_packages_without_pip(tmp_path: Path) -> None:
    pytest.importorskip("aws_cdk")
    from infra.bundling import PipLocalBundling

    bundler = PipLocalBundling(
        functions_dir=ROOT / "functions",
        package_dirs=(ROOT / "surge", ROOT / "reports"),
        requirements=("definitely-not-installed-package==0",),  # pip would fail if it ran
        skip_pip_install=True,
    )
    assert bundler.try_bundle(str(tmp_path), None) is True  # type: ignore[arg-type]
    assert (tmp_path / "functions" / "worker.py").is_file()
    assert (tmp_path / "surge" / "__init__.py").is_file()
    missing = PipLocalBundling(
        functions_dir=ROOT / "functions",
        package_dirs=(ROOT / "no-such-package",),
        requirements=(),
        skip_pip_install=True,
    )
    with pytest.raises(FileNotFoundError, match="no-such-package"):
        missing.try_bundle(str(tmp_path / "again"), None)  # type: ignore[arg-type]
