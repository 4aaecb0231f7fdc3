"""A plan's cross-field checks: what the models alone cannot see (names, references, files,
hooks, thresholds against what the plan measures), each problem named by its field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ValidationError,
)

from surge.aws_allow import check_allowed
from surge.data_file import MAX_DATA_BYTES, read_data_columns
from surge.metrics.bind import threshold_problem
from surge.plan import (
    BaselineFile,
    Plan,
    endpoint_names,
    file_part_path,
    file_parts,
    hooks_path,
    is_s3_uri,
    phase_names,
    plan_requests,
    stage_names,
)
from surge.plan_refs import WithSecretPlaceholders, env_names
from surge.plan_steps import FilePart, LoopOver, Request, Step
from surge.template import TemplateError, compile_structure, structure_calls, structure_variables
from surge.thresholds import (
    MetricRef,
    ThresholdError,
    parse_metric,
    parse_threshold,
)


def _loc(loc: tuple[int | str, ...], root: str = "(plan)") -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "<")) or part in ("json-or-python", "lax-or-strict"):
            # pydantic's validator names and our union tags (<file>): no field of the plan
            continue
        else:
            out += ("." if out else "") + part
    return out or root


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every field name and alias a plan may use, in any of its sections."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names |= {name, *(a for a in (info.alias,) if a)}
        for arg in _model_types(info.annotation):
            names |= _field_names(arg, seen)
    return names


def _model_types(annotation: object) -> list[type[BaseModel]]:
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _model_types(arg)]


def did_you_mean(key: str) -> str | None:
    """The plan field a misspelled key most likely meant (``rampTo`` -> ``ramp_to``)."""
    import difflib

    if not _PLAN_FIELDS:  # gathered once, on the first mistake
        _PLAN_FIELDS.update(_field_names(Plan))
    vocabulary = _PLAN_FIELDS
    foreign = _OTHER_TOOLS_FIELDS.get(re.sub(r"[^a-z]", "", key.lower()))
    if foreign is not None:
        return foreign
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower().replace("-", "_")
    if snake in vocabulary and snake != key:
        return snake
    close = difflib.get_close_matches(key.lower(), sorted(vocabulary), n=1, cutoff=0.75)
    return close[0] if close and close[0] != key else None


_PLAN_FIELDS: set[str] = set()


# What k6, Artillery and Locust users write for surge's fields (compared lowercased, letters only).
_OTHER_TOOLS_FIELDS = {
    "arrivalrate": "rate",
    "rps": "rate",
    "vus": "users",
    "vu": "users",
    "maxvus": "users",
    "virtualusers": "users",
    "concurrency": "users",
    "thinktime": "think",
    "waittime": "think",
}


def pydantic_problems(err: ValidationError, root: str = "(plan)") -> list[str]:
    """One line per problem, each naming its field path (``root`` for the document itself)."""
    problems = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling and indentation)"
            suggestion = did_you_mean(str(e["loc"][-1])) if e["loc"] else None
            if suggestion:
                msg = f"unknown field; did you mean '{suggestion}'? (check its spelling and indentation)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        where = _loc(tuple(e["loc"]), root)
        problems.append(f"{where}: {msg}" if where else msg)
    return problems


def _metric_ref_problems(plan: Plan, ref: MetricRef) -> list[str]:
    """What a threshold's metric names that the plan does not have: a target, endpoint, phase, stage."""
    problems = []
    if ref.target is not None and not plan.targets:
        problems.append(
            f'{ref.canonical}: target["..."] names a target of an A/B run; this plan has one target '
            "(name two or more under targets:, or drop the prefix)"
        )
    elif ref.target is not None and ref.target not in plan.targets:
        problems.append(f'no target named "{ref.target}"; the plan has: {", ".join(plan.targets)}')
    if ref.namespace == "recovery" and ref.key not in {r.key for r in plan.recovery}:
        names = ", ".join(r.key for r in plan.recovery) or "none (add a recovery: entry)"
        problems.append(f'no recovery named "{ref.key}"; the plan has: {names}')
    if ref.namespace == "endpoint" and ref.key not in endpoint_names(plan):
        names = ", ".join(sorted(endpoint_names(plan)))
        problems.append(f'no endpoint named "{ref.key}"; the plan has: {names}')
    if ref.namespace == "phase" and ref.key not in phase_names(plan):
        names = ", ".join(phase_names(plan))
        problems.append(f'no phase named "{ref.key}"; the plan has: {names}')
    if ref.namespace == "stage" and ref.key not in stage_names(plan):
        names = ", ".join(sorted(stage_names(plan))) or "none (add '- stage: NAME' or a poll 'metric')"
        problems.append(f'no stage named "{ref.key}"; the plan has: {names}')
    return problems


def semantic_problems(
    plan: Plan,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    *,
    cloud: bool = False,
    data_columns: Sequence[str] | None = None,
) -> list[str]:
    """Checks across fields: thresholds, templates and variables, hosts, data file.

    ``cloud``: the plan runs in the cloud, where data and baseline files may be s3:// URIs (the
    Prepare step reads them). ``data_columns``: the data file's columns, when the caller has read
    the file itself (Prepare, from S3); nothing is then read here. An s3:// data file whose columns
    are not given is checked by Prepare, so variables are not checked against its columns here.
    """
    problems: list[str] = []
    # Secrets are read when the run starts; here every reference stands for a value.
    environ = WithSecretPlaceholders(os.environ if environ is None else environ, any_env=cloud)
    if cloud:
        for name in env_names(plan.model_dump(mode="json", by_alias=True)):
            problems.append(
                f"{{{{ $env.{name} }}}}: a cloud worker does not have this machine's environment; "
                f"store the value with `surge secret put {name}` (value from stdin) and write "
                f"{{{{ $secret.{name} }}}} instead"
            )
    for i, spec in enumerate(plan.thresholds):
        try:
            th = parse_threshold(spec.check)
        except ThresholdError as exc:
            problems.append(f"thresholds[{i}]: {exc}")
            continue
        for ref in (th.metric, *th.operands):
            problems.extend(f"thresholds[{i}]: {p}" for p in _metric_ref_problems(plan, ref))
        if th.operands and spec.abort_on_fail:
            problems.append(
                f"thresholds[{i}]: a comparison of targets is judged when the run ends; it cannot abort it"
            )
        problem = threshold_problem(th, plan.services, plan.cost)
        if problem:
            problems.append(f"thresholds[{i}]: {problem}")
    regression_metrics = (plan.regression.metrics if plan.regression else None) or []
    for i, metric in enumerate(regression_metrics):
        problems.extend(
            f"regression.metrics[{i}]: {p}" for p in _metric_ref_problems(plan, parse_metric(metric))
        )

    columns: list[str] | None = []  # None: not known here, so variables are not checked
    if plan.data is not None:
        data_file = plan.data.file
        if data_columns is not None:
            columns = list(data_columns)
        elif is_s3_uri(data_file):
            columns = None
            if not cloud:
                problems.append(f"data.file: {data_file} is read by cloud runs only; use a local file")
        else:
            path = (base_dir / data_file) if not os.path.isabs(data_file) else Path(data_file)
            try:
                columns = read_data_columns(path)
            except OSError as exc:
                problems.append(f"data.file: cannot read {path}: {exc.strerror or exc}")
            except ValueError as exc:
                problems.append(f"data.file: {exc}")
    if isinstance(plan.baseline, BaselineFile) and is_s3_uri(plan.baseline.file) and not cloud:
        problems.append(f"baseline.file: {plan.baseline.file} is read by cloud runs only; use a local file")

    check_vars = columns is not None
    base_vars = set(plan.variables) | set(columns or ()) | {"$iteration", "$worker", "$index"}
    problems.extend(_variables_problems(plan.variables, environ))
    # What setup captures every flow reads (and teardown); what on_start captures, the scenarios.
    known = set(base_vars) if check_vars else None
    if plan.setup is not None:
        problems.extend(_flow_problems(plan, plan.setup, "setup", known, set(), environ, columns))
    if plan.teardown is not None:
        teardown_known = None if known is None else set(known)
        problems.extend(
            _flow_problems(plan, plan.teardown, "teardown", teardown_known, set(), environ, columns)
        )
    if plan.on_start is not None:
        problems.extend(_flow_problems(plan, plan.on_start, "on_start", known, set(), environ, columns))
    for s, scenario in enumerate(plan.scenarios):
        problems.extend(
            _flow_problems(
                plan,
                scenario.flow,
                f"scenarios[{s}].flow",
                None if known is None else set(known),
                set(),
                environ,
                columns,
            )
        )
    problems.extend(_shared_name_problems(plan))
    problems.extend(_file_part_problems(plan, base_dir, cloud))
    problems.extend(_hook_problems(plan, base_dir, environ, cloud))
    return problems


def _hook_uses(plan: Plan, environ: Mapping[str, str] | None) -> list[tuple[str, str]]:
    """(field, function name) of every hook the plan calls: before/after hooks, template calls."""
    uses: list[tuple[str, str]] = []
    for where, req in plan_requests(plan):
        uses += [
            (f"{where}.{kind}", name) for kind, name in (("before", req.before), ("after", req.after)) if name
        ]
        fields = {"url": req.url, "headers": req.headers, "json": req.json_body, "body": req.body}
        fields |= {"query": req.query, "form": req.form}
        for field, value in fields.items():
            try:
                calls = structure_calls(compile_structure(value, environ))
            except TemplateError:
                continue  # reported with the request's own problems
            uses += [(f"{where}.{field}", name) for name in sorted(calls)]
    for key, value in plan.variables.items():
        try:
            uses += [
                (f"variables.{key}", n) for n in sorted(structure_calls(compile_structure(value, environ)))
            ]
        except TemplateError:
            continue
    return uses


def _hook_problems(plan: Plan, base_dir: Path, environ: Mapping[str, str] | None, cloud: bool) -> list[str]:
    """The hooks file imports, and has every function the plan calls."""
    from surge.hooks import HookLoadError, load_hooks

    uses = _hook_uses(plan, environ)
    path = hooks_path(plan, base_dir)
    if path is None:
        return [
            f"{where}: calls {name}(), but the plan names no hooks file; add 'hooks: hooks.py' "
            "(a Python file of your functions, beside the plan)"
            for where, name in uses[:1]
        ]
    if is_s3_uri(str(plan.hooks)):
        # Read by cloud runs only; Prepare copies it, every worker imports it.
        return [] if cloud else [f"hooks: {plan.hooks} is read by cloud runs only; use a local file"]
    try:
        functions = load_hooks(path)
    except HookLoadError as exc:
        return [f"hooks: {exc}"]
    shown = ", ".join(sorted(functions)) or "no public functions"
    return [
        f"{where}: no function '{name}' in {plan.hooks}; it has: {shown}"
        for where, name in uses
        if name not in functions
    ]


def _flow_problems(
    plan: Plan,
    flow: Sequence[Step],
    at: str,
    known: set[str] | None,
    marks: set[str],
    environ: Mapping[str, str] | None,
    columns: Sequence[str] | None,
) -> list[str]:
    """Problems of a flow's steps in order: ``known`` (None: not checkable) and ``marks`` grow with
    what each step defines; a loop's or an if's steps see what is known before them, plus the
    loop's item. What they capture counts as known after them (a later step may use it)."""
    problems: list[str] = []

    def undefined(where: str, names: set[str]) -> None:
        for var in sorted(names - known) if known is not None else ():
            problems.append(
                f"{where}: {{{{ {var} }}}} is not defined; define it in 'variables', as a data "
                "file column, or capture it in an earlier step of this scenario"
            )

    for f, step in enumerate(flow):
        here = f"{at}[{f}]"
        if step.mark is not None:
            marks.add(step.mark)
        if step.poll is not None:
            where = f"{here}.poll"
            if step.poll.since is not None and step.poll.since not in marks:
                problems.append(
                    f"{where}.since: no mark '{step.poll.since}' earlier in this scenario; "
                    f"add '- mark: {step.poll.since}' before the step it times from"
                )
            if step.poll.request is not None:
                problems.extend(
                    _request_problems(plan, step.poll.request, f"{where}.request", known, environ)
                )
                _learn(known, {c.as_ for c in step.poll.request.capture})
            if step.poll.aws is not None:
                problems.extend(check_allowed([step.poll.aws], plan.allow_resources, [f"{where}.aws"]))
                undefined(f"{where}.aws", set(step.poll.aws.variables()))
                _learn(known, set(step.poll.aws.captured_names()))
            _learn(known, {c.as_ for c in step.poll.capture})
        if step.aws is not None:
            where = f"{here}.aws"
            problems.extend(check_allowed([step.aws], plan.allow_resources, [where]))
            undefined(where, set(step.aws.variables()))
            _learn(known, set(step.aws.captured_names()))
        if step.request is not None:
            problems.extend(_request_problems(plan, step.request, f"{here}.request", known, environ))
            _learn(known, {c.as_ for c in step.request.capture})
            if step.request.after is not None:
                known = None  # an after hook may set any variable: later names cannot be checked
        if step.steps is None:
            continue
        inner = None if known is None else set(known)
        if step.loop is not None:
            loop = step.loop
            if isinstance(loop.over, LoopOver):
                if loop.over.var is not None:
                    undefined(f"{here}.loop.over.var", {loop.over.var})
                elif columns is not None and loop.over.column not in columns:
                    shown = ", ".join(columns) if columns else "none (the plan has no data file)"
                    problems.append(
                        f"{here}.loop.over.column: no data column '{loop.over.column}'; the columns are: {shown}"
                    )
            elif isinstance(loop.over, list):
                try:
                    undefined(
                        f"{here}.loop.over", set(structure_variables(compile_structure(loop.over, environ)))
                    )
                except TemplateError as exc:
                    problems.append(f"{here}.loop.over: {exc}")
            if loop.while_ is not None:
                undefined(f"{here}.loop.while.var", {loop.while_.var})
            _learn(inner, {loop.as_})
        if step.if_ is not None:
            undefined(f"{here}.if.var", {step.if_.var})
        problems.extend(_flow_problems(plan, step.steps, f"{here}.steps", inner, marks, environ, columns))
        if known is not None and inner is not None:
            known |= inner - ({step.loop.as_} if step.loop is not None else set())
    return problems


def _learn(known: set[str] | None, names: set[str]) -> None:
    if known is not None:
        known |= names


def _file_part_problems(plan: Plan, base_dir: Path, cloud: bool) -> list[str]:
    """Multipart files exist and are small enough to hold in every worker (an s3:// one, in a
    cloud run, is checked by Prepare)."""
    problems: list[str] = []
    for where, part in file_parts(plan):
        if is_s3_uri(part.path):
            if not cloud:
                problems.append(f"{where}.path: {part.path} is read by cloud runs only; use a local file")
            continue
        path = file_part_path(part, base_dir)
        try:
            size = path.stat().st_size
        except OSError as exc:
            problems.append(f"{where}: cannot read {path}: {exc.strerror or exc}")
            continue
        if not path.is_file():
            problems.append(f"{where}: {path} is not a file (a folder?); a file part sends one file")
            continue
        if size > MAX_DATA_BYTES:
            problems.append(
                f"{where}: {path} is {size:,} bytes; a file part may be at most {MAX_DATA_BYTES:,}"
            )
    return problems


def _shared_name_problems(plan: Plan) -> list[str]:
    """Two different requests under one ``name`` would be merged into one endpoint's figures."""
    first: dict[str, tuple[str, str, str]] = {}
    problems: list[str] = []
    for where, req in plan_requests(plan):
        if req.name is None:
            continue
        seen = first.setdefault(req.name, (req.method, req.url, where))
        if seen[:2] != (req.method, req.url):
            problems.append(
                f"{where}.name: '{req.name}' already names {seen[0]} {seen[1]} ({seen[2]}); "
                "two different requests under one name would be merged into one endpoint: "
                "give each its own name"
            )
    return problems


def _variables_problems(variables: Mapping[str, object], environ: Mapping[str, str] | None) -> list[str]:
    """Variables are rendered once per worker, in the order written: one may use the variables
    above it (and $env, built-ins), never itself or one below it, which would have no value yet."""
    problems: list[str] = []
    names = list(variables)
    for i, (key, value) in enumerate(variables.items()):
        try:
            compiled = compile_structure(value, environ)
        except TemplateError as exc:
            problems.append(f"variables.{key}: {exc}")
            continue
        for var in sorted(structure_variables(compiled) - set(names[:i])):
            if var == key:
                problems.append(f"variables.{key}: {{{{ {var} }}}} refers to itself")
            elif var in variables:
                problems.append(
                    f"variables.{key}: {{{{ {var} }}}} is defined below it; variables are rendered "
                    f"once, in order: move '{var}' above '{key}'"
                )
            else:
                problems.append(
                    f"variables.{key}: {{{{ {var} }}}} is not defined; a variable may use $env, "
                    "built-ins and the variables above it (data columns and captures are for requests)"
                )
    return problems


def _request_problems(
    plan: Plan, req: Request, where: str, known: set[str] | None, environ: Mapping[str, str] | None
) -> list[str]:
    """``known``: the variables defined at this step; None when they cannot be known yet."""
    problems: list[str] = []
    fields: dict[str, object] = {"url": req.url, "headers": req.headers}
    if req.json_body is not None:
        fields["json"] = req.json_body
    if req.body is not None:
        fields["body"] = req.body
    for i, e in enumerate(req.expect):
        if e.condition is not None:
            fields[f"expect[{i}]"] = e.condition[1]
    if req.query is not None:
        fields["query"] = req.query
    if req.form is not None:
        fields["form"] = req.form
    if req.multipart is not None:
        fields["multipart"] = {k: v for k, v in req.multipart.items() if not isinstance(v, FilePart)}
    for field, value in fields.items():
        try:
            compiled = compile_structure(value, environ)
        except TemplateError as exc:
            problems.append(f"{where}.{field}: {exc}")
            continue
        for var in sorted(structure_variables(compiled) - known) if known is not None else ():
            problems.append(
                f"{where}.{field}: {{{{ {var} }}}} is not defined; define it in 'variables', as a data "
                "file column, or capture it in an earlier step of this scenario"
            )
    if req.url.startswith(("http://", "https://")):
        host = urlsplit(req.url).hostname or ""
        if "{{" in host:
            problems.append(
                f"{where}.url: the host may not be templated; name it in the URL or use the target"
            )
        elif host.lower() not in plan.allowed_hosts:
            problems.append(
                f"{where}.url: host '{host}' is not allowed; add it to allow_hosts "
                f"(allowed: {', '.join(sorted(plan.allowed_hosts))})"
            )
    elif not req.url.startswith("/"):
        problems.append(f"{where}.url: '{req.url}' must start with '/' (relative to target) or be a full URL")
    return problems
