"""One synth for the whole infra suite: the app as app.py builds it, with cdk-nag, minus pip.

The app holds two stacks, one with schedules configured and one without, so that both shapes are
asserted from a single synthesis (cdk-nag runs once over both).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # infra/ and functions/ live at the repo root, outside the package
    sys.path.insert(0, str(ROOT))

SCHEDULES = [
    # A key in the stack's own bucket: the schedule is made in the same deploy as the bucket.
    {"name": "nightly", "plan": "plans/checkout.yaml", "cron": "0 2 * * ? *"},
    {
        "name": "weekly-soak",
        "plan_uri": "s3://surge-plans/plans/soak.yaml",
        "cron": "0 3 ? * SUN *",
        "timezone": "Europe/Paris",
        "enabled": False,
    },
]


LOG_GROUPS = ("/ecs/orders",)
ALLOWED_TARGETS = ("api.example.com", "*.staging.example.com")
WORKER_RESERVED = 50
STEP_RESOURCES = (
    "arn:aws:lambda:eu-west-1:123456789012:function:orders",
    "arn:aws:s3:::uploads-bucket",
    "arn:aws:dynamodb:eu-west-1:123456789012:table/orders",
)


@dataclass
class Synth:
    outdir: Path
    stack: Any  # infra.stack.SurgeStack, with SCHEDULES
    bare: Any  # infra.stack.SurgeStack, without schedules
    template: Any  # aws_cdk.assertions.Template of `stack`
    bare_template: Any
    raw: dict[str, Any]
    raw_bare: dict[str, Any]
    report: dict[str, Any]
    """cdk-nag's validation-report.json."""
    validation_error: str | None
    seconds: float


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed (pip install -e '.[cdk]')")
    pytest.importorskip("cdk_nag", reason="cdk-nag is not installed (pip install -e '.[cdk]')")
    import aws_cdk as cdk
    from aws_cdk.assertions import Template
    from cdk_nag import AwsSolutionsChecks

    from infra.config import cdk_json_context, parse_schedules
    from infra.names import CTX_SKIP_PIP_INSTALL
    from infra.stack import ProjectPaths, SurgeStack

    started = time.perf_counter()
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir), context={**cdk_json_context(ROOT), CTX_SKIP_PIP_INSTALL: True})
    env = cdk.Environment(account="123456789012", region="eu-west-1")
    paths = ProjectPaths.from_root(ROOT)
    stack = SurgeStack(
        app,
        "Surge",
        paths=paths,
        schedules=parse_schedules(SCHEDULES),
        step_resources=STEP_RESOURCES,
        log_groups=LOG_GROUPS,
        worker_reserved_concurrency=WORKER_RESERVED,
        allowed_targets=ALLOWED_TARGETS,
        allow_hooks=True,
        skip_pip_install=True,
        env=env,
    )
    # The bare stack is also a sandbox's: `cdk destroy` removes its data stores too.
    bare = SurgeStack(
        app, "SurgeBare", paths=paths, skip_pip_install=True, remove_data_on_destroy=True, env=env
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))

    validation_error: str | None = None
    try:
        app.synth()
        template, bare_template = Template.from_stack(stack), Template.from_stack(bare)
    except RuntimeError as exc:  # cdk-nag findings: keep the assembly so the other tests still run
        validation_error = str(exc)
        template = Template.from_json(json.loads((outdir / "Surge.template.json").read_text()))
        bare_template = Template.from_json(json.loads((outdir / "SurgeBare.template.json").read_text()))
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    yield Synth(
        outdir=outdir,
        stack=stack,
        bare=bare,
        template=template,
        bare_template=bare_template,
        raw=dict(template.to_json()),
        raw_bare=dict(bare_template.to_json()),
        report=report,
        validation_error=validation_error,
        seconds=time.perf_counter() - started,
    )
