"""The JSON Schema of a plan file as a user writes it, and the plan reference generated from it.

Editors read the schema through yaml-language-server's ``# yaml-language-server: $schema=...``
comment (``surge init`` writes it, ``surge schema`` prints the schema) for completion and inline
errors. It comes from the plan models themselves (pydantic), plus the forms a plan may write that
the models accept before validation: ``get: /path`` for a request, a threshold as a string.
docs/plans.md is :func:`reference_markdown` of it (a test keeps the two in step). Pure.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from surge.plan import OPTIONAL_SECTIONS, Plan
from surge.plan_steps import HTTP_METHODS

SCHEMA_ID = "https://surge.dev/schemas/plan.json"
SCHEMA_FILE = "surge-plan.schema.json"  # what `surge init` writes beside a starter plan

# One short example per section of the reference (YAML, as a plan writes it).
EXAMPLES: dict[str, str] = {
    "Plan": "name: checkout\ntarget: http://127.0.0.1:8080\nload:\n  phases:\n    - {duration: 1m, rate: 50}\n"
    "scenarios:\n  - name: browse\n    flow:\n      - get: /api/mocs\nthresholds:\n  - http.latency.p95 < 300ms",
    "Load": "phases:\n  - {name: warm-up, duration: 30s, rate: 5, ramp_to: 50}\n  - {name: steady, duration: 5m, rate: 50}",
    "Phase": "{name: spike, duration: 1m, rate: 1000, ramp_to: 10000}",
    "Scenario": "name: buy\nweight: 3\nflow:\n  - get: /api/mocs\n  - think: 1s..3s\n  - post: {url: /v1/orders, json: {sku: '{{ sku }}'}}",
    "Step": "- get: /api/mocs\n- think: {mean: 2s, stddev: 500ms}\n- loop: {count: 3}\n  steps:\n    - post: /cart/items\n"
    "- if: {var: cursor, exists: true}\n  steps:\n    - get: /inbox?cursor={{ cursor }}",
    "Request": "post:\n  url: /v1/events\n  headers: {Authorization: 'Bearer {{ $secret.API_TOKEN }}'}\n"
    "  json: {type: order.created, id: '{{ $uuid }}'}\n  expect: [{status: 202}, {json: $.id, exists: true}, {max: 200ms}]\n"
    "  capture: [{json: $.id, as: event_id}]",
    "Expect": "[{status: [200, 201]}, {content_type: json}, {json: $.status, equals: accepted}, {max: 200ms}]",
    "Capture": "[{json: $.next_cursor, as: cursor, optional: true}, {header: ETag, as: etag}]",
    "Poll": "poll:\n  get: /v1/inbox/{{ event_id }}\n  until: {status: 200}\n  every: 250ms\n  timeout: 30s\n  metric: delivery",
    "Until": "{json: $.state, equals: delivered}",
    "Loop": "loop: {while: {var: cursor, exists: true}, max: 50}\nsteps:\n  - get: /v1/inbox?cursor={{ cursor }}",
    "LoopOver": "loop: {over: {var: items, json: '$[*].id'}, as: item_id, max: 10}",
    "VarCondition": "if: {var: status, equals: accepted}",
    "FilePart": "multipart:\n  title: castle\n  image: {path: fixtures/test-image.jpg, content_type: image/jpeg}",
    "ThresholdSpec": "- http.error_rate < 1%\n- {check: http.latency.p99 < 1s, abort_on_fail: true, grace: 30s}",
    "DataFile": "data: {file: users.csv, order: random}",
    "Defaults": "defaults: {timeout: 10s, headers: {Accept: application/json}}",
    "Validity": "validity: {max_workers_lost: 0, max_dropped: 1%}",
}


# Sections whose fields are explained on their own pages.
SEE_ALSO: dict[str, str] = {
    **dict.fromkeys(("AwsStepSpec", "AwsCapture", "AwsExpect"), "[docs/aws-steps.md](aws-steps.md)"),
    **dict.fromkeys(
        (
            "LambdaService",
            "DynamoDBService",
            "ElastiCacheService",
            "RDSService",
            "OpenSearchService",
            "S3Service",
            "ApiGatewayService",
            "SQSService",
            "CustomService",
            "CustomQuery",
            "CustomExpression",
            "CostSpec",
        ),
        "[docs/service-metrics.md](service-metrics.md)",
    ),
}


def plan_schema() -> dict[str, Any]:
    """The schema of a plan file (draft 2020-12)."""
    schema = Plan.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    # `get: /path` or `post: {url: ..., json: ...}`: a request whose method is its key.
    shorthand = copy.deepcopy(defs["Request"])
    shorthand["properties"].pop("method", None)
    shorthand["required"] = [r for r in shorthand.get("required", []) if r != "method"]
    shorthand["title"] = "RequestShorthand"
    shorthand["description"] = (
        "A request written under its method's key: `get: /path` or `post: {url: ..., json: ...}`."
    )
    defs["RequestShorthand"] = shorthand
    by_method = {
        "anyOf": [{"type": "string", "description": "the URL"}, {"$ref": "#/$defs/RequestShorthand"}],
    }
    for model in ("Step", "Poll"):
        props = defs[model]["properties"]
        for method in HTTP_METHODS:
            props[method.lower()] = {
                **by_method,
                "description": f"a {method} request (shorthand for `request`)",
            }
    # A section left with only comments (`variables:`) is null in YAML: surge reads it as empty.
    for section in OPTIONAL_SECTIONS:
        prop = schema["properties"].get(section)
        if prop is not None and not any(f.get("type") == "null" for f in prop.get("anyOf", [])):
            schema["properties"][section] = {
                "anyOf": [{k: v for k, v in prop.items() if k != "default"}, {"type": "null"}]
            }
            if "default" in prop:
                schema["properties"][section]["default"] = prop["default"]
    thresholds = (
        schema["properties"]["thresholds"]["anyOf"][0]
        if "anyOf" in schema["properties"]["thresholds"]
        else schema["properties"]["thresholds"]
    )
    thresholds["items"] = {
        "anyOf": [
            {"type": "string", "description": "a check, e.g. http.latency.p95 < 300ms"},
            {"$ref": "#/$defs/ThresholdSpec"},
        ]
    }
    # `target`, or an A/B run's `targets` (the plan's first target then stands for `target`).
    schema["required"] = [r for r in schema.get("required", []) if r != "target"]
    schema["anyOf"] = [{"required": ["target"]}, {"required": ["targets"]}]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "surge test plan"
    schema["description"] = "A surge load-test plan (docs/plans.md)."
    return schema


def schema_json() -> str:
    return json.dumps(plan_schema(), indent=2, ensure_ascii=False) + "\n"


# -- the reference ------------------------------------------------------------------------------------


def _type(prop: dict[str, Any]) -> str:
    """A property's accepted forms, in words (links to other sections)."""
    if "x-kind" in prop:
        return str(prop["x-kind"])
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in prop:
            forms = [_type(p) for p in prop[key] if p.get("type") != "null"]
            return " or ".join(dict.fromkeys(forms))
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object":
        extra = prop.get("additionalProperties")
        return f"mapping of {_type(extra)}" if isinstance(extra, dict) and extra else "mapping"
    if "enum" in prop:
        return " or ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if isinstance(kind, str):
        return {"number": "number", "integer": "integer", "string": "text", "boolean": "true/false"}.get(
            kind, kind
        )
    return "any"


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop:
        return ""
    value = prop["default"]
    if value is None or value == [] or value == {}:
        return "—"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _order(schema: dict[str, Any]) -> list[str]:
    """Sections in the order a reader meets them: the plan, then what it refers to, depth first."""
    seen: list[str] = []

    def visit(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    seen.append(name)
                    visit(schema["$defs"][name])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema.get("properties", {}))
    return seen


def _section(name: str, model: dict[str, Any], level: str = "###") -> list[str]:
    lines = [f"{level} {name}", ""]
    if model.get("description"):
        lines += [" ".join(str(model["description"]).split()), ""]
    required = set(model.get("required", []))
    props: dict[str, Any] = model.get("properties", {})
    if props:
        lines += ["| field | accepts | default | what it is |", "| --- | --- | --- | --- |"]
        for field, prop in props.items():
            desc = prop.get("description", "")
            if "examples" in prop and "x-kind" not in prop:  # the forms of a duration etc. are in the intro
                shown = ", ".join(json.dumps(e, ensure_ascii=False) for e in prop["examples"][:3])
                desc = f"{desc} (e.g. {shown})" if desc else f"e.g. {shown}"
            lines.append(
                f"| `{field}` | {_cell(_type(prop))} | {_cell(_default(prop, field in required))} | {_cell(desc)} |"
            )
        lines.append("")
    if name in SEE_ALSO:
        lines += [f"Described in {SEE_ALSO[name]}.", ""]
    example = EXAMPLES.get(name)
    if example:
        lines += ["```yaml", example, "```", ""]
    return lines


def reference_markdown() -> str:
    """docs/plans.md: every field of a plan, what it accepts, its default, what it does."""
    schema = plan_schema()
    lines = [
        "# Plan reference",
        "",
        "<!-- Generated from the plan models by `python -m surge.plan_schema --markdown`; do not edit. -->",
        "",
        "Every field a plan file may have, section by section: what it accepts, its default, what it",
        "does. Durations are a number of seconds or text such as `500ms`, `30s`, `5m`, `1h`, `1m30s`;",
        "shares are `1%` or `0.01`; sizes `10MB` or a number of bytes. Any text may use `{{ variable }}`",
        'templates (README, "Templates"). `surge schema` prints the JSON Schema this page is made from;',
        "`surge init` writes it beside a starter plan with the comment editors read:",
        "",
        "```yaml",
        f"# yaml-language-server: $schema=./{SCHEMA_FILE}",
        "```",
        "",
        "## Plan",
        "",
    ]
    top = {k: v for k, v in schema.items() if k in ("properties", "required", "description")}
    lines += _section("Plan", top, "###")[2:]
    lines += ["## Sections", ""]
    for name in _order(schema):
        lines += _section(name, schema["$defs"][name])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m surge.plan_schema", description=__doc__)
    ap.add_argument("--markdown", action="store_true", help="print docs/plans.md instead of the schema")
    args = ap.parse_args(argv)
    print(reference_markdown() if args.markdown else schema_json(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
