#!/usr/bin/env python3
"""CDK entry point: `cdk deploy` (or `python app.py` to synthesize without the CLI).

Context (cdk.json or `-c key=value`):
  surge:schedules        [{"name": "nightly", "plan_uri": "s3://<bucket>/plans/x.yaml", "cron": "0 2 * * ? *"}]
  surge:stepResources    ["arn:aws:lambda:eu-west-1:123456789012:function:orders", ...]: what aws: steps may call
  surge:skipPipInstall   true: bundle sources only (quick synths; not for deploys)
  surge:nag              false: skip the cdk-nag AwsSolutions checks
  surge:removeDataOnDestroy  true: `cdk destroy` deletes the buckets and the table too (sandboxes)
  surge:allowedTargets   "api.example.com,*.staging.example.com": the hosts any run may load (none when unset)
  surge:allowHooks       true: plans may run hooks (Python inside the functions, with their roles)
"""

from __future__ import annotations

import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import (
    cdk_json_context,
    parse_allowed_targets,
    parse_log_groups,
    parse_reserved_concurrency,
    parse_schedules,
    parse_step_resources,
    skip_pip_install,
    truthy,
)
from infra.names import (
    CTX_ALLOW_HOOKS,
    CTX_ALLOWED_TARGETS,
    CTX_LOG_GROUPS,
    CTX_REMOVE_DATA_ON_DESTROY,
    CTX_RESULTS_RETENTION_DAYS,
    CTX_SCHEDULES,
    CTX_SKIP_PIP_INSTALL,
    CTX_STEP_RESOURCES,
    CTX_WORKER_RESERVED,
    STACK_NAME,
)
from infra.preflight import check_reserved_concurrency
from infra.stack import ProjectPaths, SurgeStack


def main() -> cdk.App:
    root = Path(__file__).resolve().parent
    app = cdk.App(context=cdk_json_context(root))
    ctx = app.node.try_get_context
    stack_name = ctx("surge:stackName") or STACK_NAME
    reserved = parse_reserved_concurrency(ctx(CTX_WORKER_RESERVED))
    # A reservation the account cannot give fails here, with the figures, not halfway through a deploy.
    check_reserved_concurrency(reserved, stack_name)
    SurgeStack(
        app,
        stack_name,
        paths=ProjectPaths.from_root(root),
        schedules=parse_schedules(ctx(CTX_SCHEDULES)),
        step_resources=parse_step_resources(ctx(CTX_STEP_RESOURCES)),
        log_groups=parse_log_groups(ctx(CTX_LOG_GROUPS)),
        worker_reserved_concurrency=reserved,
        skip_pip_install=skip_pip_install(ctx(CTX_SKIP_PIP_INSTALL)),
        results_retention_days=int(ctx(CTX_RESULTS_RETENTION_DAYS) or 365),
        remove_data_on_destroy=truthy(ctx(CTX_REMOVE_DATA_ON_DESTROY) or False),
        allowed_targets=parse_allowed_targets(ctx(CTX_ALLOWED_TARGETS)),
        allow_hooks=truthy(ctx(CTX_ALLOW_HOOKS) or False),
        env=cdk.Environment(account=os.getenv("CDK_DEFAULT_ACCOUNT"), region=os.getenv("CDK_DEFAULT_REGION")),
        description="surge: serverless load testing (Step Functions + Lambda workers)",
    )
    if truthy(ctx("surge:nag") if ctx("surge:nag") is not None else True):
        # Findings fail the synth; acknowledgements (with reasons) are copied into the template.
        cdk.Validations.of(app).add_plugins(
            AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True)
        )
    app.synth()
    return app


if __name__ == "__main__":
    main()
