"""An Artillery YAML script as a surge plan (`surge import artillery load-test.yml`).

Mapped: ``config.target``, ``phases`` (arrivalRate, rampTo, arrivalCount, pause, duration, name,
maxVusers), ``variables`` and ``$processEnvironment.X``/``$env.X`` (-> ``$env.X``), ``payload``
(-> ``data``), ``defaults.headers``, ``http.timeout``, ``ensure`` thresholds, conditions and
maxErrorRate (-> thresholds), and scenarios with weights and flows: get/post/put/patch/delete/head/
options with url, headers, qs, json, body, form, formData (files too), cookie, capture (json,
regexp, header), the expect plugin's statusCode/contentType/hasProperty/notHasProperty/hasHeader,
think, and loop (count, over). What it cannot map becomes a note (surge.importers).
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from typing import Any

from surge.foreign_script import looks_like_artillery
from surge.importers import Flow, Imported, ScriptError, duration

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")

# What Artillery's metric names are in surge's vocabulary (ensure thresholds and conditions).
_LATENCY = {"min": "min", "max": "max", "mean": "mean", "median": "p50", "p50": "p50", "p75": "p75",
            "p90": "p90", "p95": "p95", "p99": "p99", "p999": "p999"}  # fmt: skip
_ENSURE_LEGACY = {"p50", "median", "p95", "p99", "p999", "max", "min", "mean"}


def import_artillery(data: object, source: str) -> Imported:
    if not looks_like_artillery(data):
        raise ScriptError(
            f"{source} is not an Artillery script: it has no `config:` (with target or phases) and `scenarios:`"
        )
    assert isinstance(data, dict)
    config: dict[str, Any] = data["config"]
    out = Imported("artillery", source, {})
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", source.rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip("-")
    out.plan["name"] = name or "imported"
    target = config.get("target")
    if isinstance(target, str) and target:
        out.plan["target"] = _template(target, out, "config.target")
    else:
        out.plan["target"] = "http://127.0.0.1:8080"
        out.note("config.target", "no target; set one here or pass --target to surge run")
    defaults = _defaults(config, out)
    if defaults:
        out.plan["defaults"] = defaults
    out.plan["load"] = _load(config, out)
    variables = _variables(config, out)
    if variables:
        out.plan["variables"] = variables
    data_file = _payload(config.get("payload"), out)
    if data_file:
        out.plan["data"] = data_file
    scenarios = data.get("scenarios")
    if not isinstance(scenarios, list) or not scenarios:
        raise ScriptError(f"{source}: `scenarios` is not a list of scenarios")
    out.plan["scenarios"] = [
        s for i, sc in enumerate(scenarios) if (s := _scenario(sc, i, out, data)) is not None
    ]
    if not out.plan["scenarios"]:
        raise ScriptError(f"{source}: no scenario could be imported (see the notes)")
    # Artillery's before/after sections run once per test: surge's setup and teardown.
    for hook in ("before", "after"):
        if isinstance(data.get(hook), dict):
            flow = data[hook].get("flow")
            if isinstance(flow, list):
                out.plan["setup" if hook == "before" else "teardown"] = _steps(flow, f"{hook}.flow", out)
    _define_unset(out, _payload_fields(config.get("payload")))
    thresholds = _ensure(config, out)
    if thresholds:
        out.plan["thresholds"] = thresholds
    _config_notes(config, out)
    for key in data:
        if key not in ("config", "scenarios", "before", "after"):
            out.note(key, "a top-level section surge does not read")
    return out


# --- config -------------------------------------------------------------------------------------


def _defaults(config: Mapping[str, Any], out: Imported) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    headers = (
        (config.get("defaults") or {}).get("headers") if isinstance(config.get("defaults"), dict) else None
    )
    if isinstance(headers, dict):
        defaults["headers"] = {
            str(k): _template(str(v), out, f"config.defaults.headers.{k}") for k, v in headers.items()
        }
    http = config.get("http")
    if isinstance(http, dict):
        if isinstance(http.get("timeout"), int | float):
            defaults["timeout"] = duration(float(http["timeout"]))  # Artillery's is in seconds
        for key in http:
            if key != "timeout":
                out.note(f"config.http.{key}", "an HTTP engine option surge does not have")
    return defaults


def _load(config: Mapping[str, Any], out: Imported) -> dict[str, Any]:
    phases = config.get("phases")
    if phases is not None and not isinstance(phases, list):
        # A load that is not a list of phases is a broken script: inventing one would hide it.
        raise ScriptError(f"config.phases is {type(phases).__name__} {phases!r}, not a list of phases")
    if not isinstance(phases, list) or not phases:
        out.note("config.phases", "no phases; imported as one minute at 1 arrival per second")
        return {"phases": [Flow(duration="60s", rate=1)]}
    plan_phases: list[Flow] = []
    max_vusers: list[float] = []
    for i, phase in enumerate(phases):
        where = f"config.phases[{i}]"
        if not isinstance(phase, dict):
            out.note(where, "not a phase; left out", lost=True)
            continue
        item = Flow()
        if phase.get("name"):
            item["name"] = str(phase["name"])
        seconds = _seconds(phase.get("pause") if "pause" in phase else phase.get("duration"))
        if seconds is None or seconds <= 0:
            out.note(where, f"duration {phase.get('duration')!r} cannot be read; left out", lost=True)
            continue
        item["duration"] = duration(seconds)
        if "pause" in phase:
            item["rate"] = 0  # a pause: no arrivals for its length
        elif isinstance(phase.get("arrivalCount"), int | float):
            item["rate"] = round(float(phase["arrivalCount"]) / seconds, 6)
        else:
            item["rate"] = _number(phase.get("arrivalRate"), 0)
            if isinstance(phase.get("rampTo"), int | float):
                item["ramp_to"] = phase["rampTo"]
        if isinstance(phase.get("maxVusers"), int | float):
            max_vusers.append(float(phase["maxVusers"]))
        for key in phase:
            if key not in ("name", "duration", "pause", "arrivalRate", "arrivalCount", "rampTo", "maxVusers"):
                out.note(f"{where}.{key}", "a phase option surge does not have")
        plan_phases.append(item)
    load: dict[str, Any] = {"phases": plan_phases}
    if max_vusers:
        # Artillery caps concurrent virtual users; surge caps iterations in flight (the same bound).
        load["max_in_flight"] = int(max(max_vusers))
        if len(set(max_vusers)) > 1:
            out.note(
                "config.phases.maxVusers",
                "differs per phase; surge's max_in_flight is one for the run (the largest)",
            )
    return load


def _variables(config: Mapping[str, Any], out: Imported) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    raw = config.get("variables")
    if not isinstance(raw, dict):
        return variables
    for key, value in raw.items():
        where = f"config.variables.{key}"
        if isinstance(value, list):
            if not value:
                continue
            variables[str(key)] = (
                _template(str(value[0]), out, where) if isinstance(value[0], str) else value[0]
            )
            out.note(
                where,
                f"Artillery picks one of {len(value)} values per virtual user; surge keeps the first. "
                "For one value per iteration, put them in a data CSV column (data: {file: ...})",
            )
        elif isinstance(value, str):
            variables[str(key)] = _template(value, out, where)
        else:
            variables[str(key)] = value
    return variables


def _payload(payload: object, out: Imported) -> dict[str, Any] | None:
    if payload is None:
        return None
    items = payload if isinstance(payload, list) else [payload]
    first = items[0] if items else None
    if not isinstance(first, dict) or not isinstance(first.get("path"), str):
        out.note("config.payload", "no payload file path; left out")
        return None
    if len(items) > 1:
        out.note("config.payload", f"{len(items)} payload files; surge reads one data file (the first)")
    data: dict[str, Any] = {"file": first["path"].removeprefix("./")}
    order = str(first.get("order", "random"))
    data["order"] = "sequential" if order == "sequence" else "random"
    fields = first.get("fields")
    if isinstance(fields, list) and not first.get("skipHeader"):
        out.note(
            "config.payload.fields",
            f"surge names a CSV's columns by its first line: add the line `{','.join(map(str, fields))}` "
            f"to the top of {data['file']}",
        )
    for key in first:
        if key not in ("path", "fields", "order", "skipHeader", "delimiter"):
            out.note(f"config.payload.{key}", "a payload option surge does not have")
    return data


def _payload_fields(payload: object) -> set[str]:
    first = (payload[0] if payload else None) if isinstance(payload, list) else payload
    fields = first.get("fields") if isinstance(first, dict) else None
    return {str(f) for f in fields} if isinstance(fields, list) else set()


def _ensure(config: Mapping[str, Any], out: Imported) -> list[str]:
    ensure = config.get("ensure")
    plugins = config.get("plugins")
    if ensure is None and isinstance(plugins, dict) and isinstance(plugins.get("ensure"), dict):
        ensure = plugins["ensure"]
    if not isinstance(ensure, dict):
        return []
    checks: list[str] = []
    for item in ensure.get("thresholds") or []:
        if isinstance(item, dict):
            for metric, value in item.items():
                # Artillery: "check that a metric's value is less-than the defined value".
                check = _artillery_check(str(metric), "<", value)
                if check:
                    checks.append(check)
                else:
                    out.note(f"ensure.thresholds.{metric}", f"no surge metric for {metric}")
    for i, cond in enumerate(ensure.get("conditions") or []):
        expression = cond.get("expression") if isinstance(cond, dict) else None
        where = f"ensure.conditions[{i}]"
        if not isinstance(expression, str):
            continue
        if re.search(r"\bor\b|\bnot\b|[()]", expression):
            out.note(
                where,
                f"'{expression}': surge checks are each one comparison, all of which must hold; write it as such",
            )
            continue
        for part in re.split(r"\s+and\s+", expression.strip()):
            m = re.fullmatch(r"\s*([\w.]+)\s*(<=|>=|==|<|>)\s*([\d.]+)\s*", part)
            check = _artillery_check(m.group(1), m.group(2), float(m.group(3))) if m else None
            if check:
                checks.append(check)
            else:
                out.note(where, f"'{part}' names no surge metric")
        if isinstance(cond, dict) and cond.get("strict") is False:
            out.note(
                where, "strict: false made it a warning in Artillery; in surge a failed check fails the run"
            )
    if isinstance(ensure.get("maxErrorRate"), int | float):
        checks.append(f"http.error_rate <= {ensure['maxErrorRate']:g}%")
    for key in sorted(_ENSURE_LEGACY & set(ensure)):  # a stable order in the written plan
        check = _artillery_check(f"http.response_time.{key}", "<=", ensure[key])
        if check:
            checks.append(check)
    return checks


def _artillery_check(metric: str, op: str, value: object) -> str | None:
    if not isinstance(value, int | float):
        return None
    name = metric.removeprefix("engine.").removeprefix("core.")
    if name.startswith("http.response_time."):
        stat = _LATENCY.get(name.removeprefix("http.response_time."))
        return f"http.latency.{stat} {op} {value:g}ms" if stat else None
    surge = {
        "http.request_rate": ("http.throughput", "/s"),
        "http.requests": ("http.requests", ""),
        "vusers.created": ("http.iterations", ""),
        "vusers.created.total": ("http.iterations", ""),
        # A failed virtual user is a failed iteration; surge counts the failed requests in it.
        "vusers.failed": ("http.errors", ""),
    }.get(name)
    return f"{surge[0]} {op} {value:g}{surge[1]}" if surge else None


def _config_notes(config: Mapping[str, Any], out: Imported) -> None:
    known = {
        "target",
        "phases",
        "variables",
        "payload",
        "defaults",
        "http",
        "ensure",
        "plugins",
        "environments",
    }
    if isinstance(config.get("processor"), str):
        out.note(
            "config.processor",
            f"{config['processor']} holds JavaScript functions (beforeRequest, afterResponse, function "
            "steps); write them in Python in a hooks file (hooks: hooks.py; docs/plans.md, Request.before/after)",
        )
    plugins = config.get("plugins")
    if isinstance(plugins, dict):
        for plugin in plugins:
            if plugin in ("expect", "ensure"):
                continue  # built in: expect and thresholds
            if plugin == "metrics-by-endpoint":
                continue  # surge reports every endpoint
            out.note(f"config.plugins.{plugin}", "a plugin surge has no equal for")
    if isinstance(config.get("environments"), dict):
        out.note(
            "config.environments",
            f"{', '.join(map(str, config['environments']))}: surge has one target per plan; pass "
            "--target URL to surge run for another environment",
        )
    if isinstance(config.get("tls"), dict):
        out.note("config.tls", "TLS options: surge verifies certificates always")
    for key in config:
        if key not in known and key not in ("processor", "tls"):
            out.note(f"config.{key}", "a config option surge does not have")


# --- scenarios and steps ----------------------------------------------------------------------


def _scenario(sc: object, index: int, out: Imported, data: Mapping[str, Any]) -> dict[str, Any] | None:
    where = f"scenarios[{index}]"
    if not isinstance(sc, dict):
        out.note(where, "not a scenario; left out")
        return None
    name = str(sc.get("name") or f"scenario {index + 1}")
    where = f'scenario "{name}"'
    engine = sc.get("engine")
    if engine not in (None, "http"):
        out.note(where, f"engine {engine}: surge speaks HTTP (and AWS calls); left out")
        return None
    scenario: dict[str, Any] = {"name": name}
    if isinstance(sc.get("weight"), int | float):
        scenario["weight"] = sc["weight"]
    for hook in ("beforeScenario", "afterScenario"):
        if hook in sc:
            out.note(
                f"{where}.{hook}",
                f"JavaScript {sc[hook]}: a Python hook on the first/last request (before/after)",
            )
    flow = sc.get("flow")
    if not isinstance(flow, list):
        raise ScriptError(f"{where}.flow is {type(flow).__name__} {flow!r}, not a list of steps")
    steps = _steps(flow, where, out)
    if not steps:
        out.note(where, "no step could be imported; left out")
        return None
    scenario["flow"] = steps
    return scenario


def _steps(flow: list[Any], where: str, out: Imported) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for i, raw in enumerate(flow):
        here = f"{where} step {i + 1}"
        if not isinstance(raw, dict) or not raw:
            out.note(here, "not a step; left out")
            continue
        step = _step(raw, here, out)
        if step is not None:
            steps.append(step)
    return steps


def _step(raw: Mapping[str, Any], here: str, out: Imported) -> dict[str, Any] | None:
    method = next((m for m in METHODS if m in raw), None)
    if method is not None:
        req = _request(method, raw[method], here, out)
        return {method: req} if req is not None else None
    if "think" in raw:
        seconds = _seconds(raw["think"])
        if seconds is None:
            out.note(here, f"think {raw['think']!r} cannot be read; left out", lost=True)
            return None
        return {"think": duration(seconds)}
    if "loop" in raw:
        inner = raw["loop"]
        steps = _steps(inner if isinstance(inner, list) else [], f"{here} (loop)", out)
        if not steps:
            return None
        loop: dict[str, Any] = {}
        if isinstance(raw.get("count"), int):
            loop["count"] = raw["count"]
        elif isinstance(raw.get("over"), list):
            loop["over"] = raw["over"]
        elif isinstance(raw.get("over"), str):
            loop["over"] = {"var": raw["over"]}
        elif "whileTrue" in raw:
            out.note(here, f"loop whileTrue: {raw['whileTrue']} is a JavaScript function; write the condition as "
                     "loop: {while: {var: ..., exists: true}} on a captured value")  # fmt: skip
            loop["count"] = 1
        else:
            out.note(here, "a loop without count runs forever in Artillery; bounded here at 10 passes")
            loop["count"] = 10
        if "over" in loop:
            loop["as"] = "loopElement"  # Artillery's $loopElement
            loop["max"] = 1000
        return {"loop": Flow(loop), "steps": steps}
    if "function" in raw:
        out.note(here, f"JavaScript function {raw['function']}: call a Python hook from a request "
                 "(before/after) or a template ({{ fn() }})")  # fmt: skip
        return None
    if "log" in raw:
        out.note(here, f"log {raw['log']!r}: surge run --debug N prints the exchanges")
        return None
    out.note(here, f"{next(iter(raw))}: a step surge has no equal for")
    return None


def _request(method: str, spec: object, here: str, out: Imported) -> dict[str, Any] | None:
    if isinstance(spec, str):
        spec = {"url": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        out.note(here, f"{method} without a url; left out", lost=True)
        return None
    here = f"{here} ({method.upper()} {spec['url']})"
    req: dict[str, Any] = {"url": _template(spec["url"], out, here)}
    if isinstance(spec.get("name"), str):
        req["name"] = spec["name"]
    headers = {str(k): _template(str(v), out, here) for k, v in (spec.get("headers") or {}).items()}
    if "formData" in spec:
        # The client writes multipart's Content-Type with its boundary; a fixed one would break it.
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if isinstance(spec.get("cookie"), dict):
        headers["Cookie"] = "; ".join(
            f"{k}={_template(str(v), out, here)}" for k, v in spec["cookie"].items()
        )
    if isinstance(spec.get("auth"), dict):
        out.note(here, "auth {user, pass}: send an Authorization header (Basic, base64 of user:pass), "
                 "e.g. from a $secret")  # fmt: skip
    if headers:
        req["headers"] = headers
    if isinstance(spec.get("qs"), dict):
        req["query"] = {str(k): _template_value(v, out, here) for k, v in spec["qs"].items()}
    if "json" in spec:
        req["json"] = _template_value(spec["json"], out, here)
    elif "body" in spec:
        req["body"] = _template(str(spec["body"]), out, here)
    elif isinstance(spec.get("form"), dict):
        req["form"] = {str(k): _template_value(v, out, here) for k, v in spec["form"].items()}
    elif isinstance(spec.get("formData"), dict):
        req["multipart"] = _multipart(spec["formData"], here, out)
    captures = _captures(spec.get("capture"), here, out)
    if captures:
        req["capture"] = captures
    expects = _expects(spec.get("expect"), here, out)
    if expects:
        req["expect"] = expects
    for key in ("beforeRequest", "afterResponse"):
        if key in spec:
            fn = spec[key]
            out.note(here, f"{key}: {fn} (JavaScript): write it in Python in a hooks file and name it as "
                     f"the request's {'before' if key == 'beforeRequest' else 'after'}")  # fmt: skip
    if "ifTrue" in spec:
        out.note(
            here, f"ifTrue {spec['ifTrue']!r}: put the request in an if: {{var: ..., equals: ...}} block"
        )
    if spec.get("followRedirect") is False:
        out.note(here, "followRedirect: false: surge follows redirects on allowed hosts")
    known = {"url", "name", "headers", "qs", "json", "body", "form", "formData", "capture", "expect", "cookie",
             "auth", "beforeRequest", "afterResponse", "ifTrue", "followRedirect"}  # fmt: skip
    for key in spec:
        if key not in known:
            out.note(here, f"{key}: a request option surge does not have")
    return req


def _multipart(form: Mapping[str, Any], here: str, out: Imported) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    for key, value in form.items():
        if isinstance(value, dict) and isinstance(value.get("path") or value.get("fromFile"), str):
            path = str(value.get("path") or value.get("fromFile")).removeprefix("./")
            part: dict[str, Any] = {"path": path}
            ctype = value.get("contentType") or mimetypes.guess_type(path)[0]
            if ctype:
                part["content_type"] = ctype
            parts[str(key)] = Flow(part)
        elif isinstance(value, dict) and "value" in value:
            parts[str(key)] = _template_value(value["value"], out, here)
        else:
            parts[str(key)] = _template_value(value, out, here)
    return parts


def _captures(raw: object, here: str, out: Imported) -> list[Flow]:
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    captures: list[Flow] = []
    for item in items:
        if not isinstance(item, dict) or "as" not in item:
            out.note(here, f"capture {item!r} without `as`; left out")
            continue
        cap = Flow()
        if "json" in item:
            cap["json"] = str(item["json"])
        elif "regexp" in item:
            cap["regex"] = str(item["regexp"])
            if isinstance(item.get("group"), int):
                cap["group"] = item["group"]
        elif "header" in item:
            cap["header"] = str(item["header"])
        else:
            kind = next((k for k in item if k != "as"), "?")
            out.note(here, f"capture by {kind}: surge captures by json, regex or header")
            continue
        cap["as"] = str(item["as"])
        if item.get("strict") is False:
            cap["optional"] = True
        for key in item:
            if key in ("transform", "match"):
                out.note(here, f"capture {item['as']}: {key} is not mapped (a Python hook's after can do it)")
        captures.append(cap)
    return captures


def _expects(raw: object, here: str, out: Imported) -> list[Flow]:
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    expects: list[Flow] = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            out.note(here, f"expect {item!r}: one check per item is what the expect plugin reads")
            continue
        key, value = next(iter(item.items()))
        if key == "statusCode":
            codes = value if isinstance(value, list) else [value]
            if all(isinstance(c, int) or (isinstance(c, str) and c.isdigit()) for c in codes):
                numbers = [int(c) for c in codes]
                expects.append(Flow(status=numbers[0] if len(numbers) == 1 else numbers))
                continue
        elif key == "contentType" and isinstance(value, str):
            expects.append(Flow(content_type=value))
            continue
        elif key in ("hasProperty", "notHasProperty") and isinstance(value, str):
            expects.append(Flow(json=f"$.{value}", exists=key == "hasProperty"))
            continue
        elif key == "equals" and isinstance(value, list) and len(value) == 2:
            out.note(
                here,
                f"expect equals {value}: write it as {{json: $.FIELD, equals: VALUE}} on the field compared",
            )
            continue
        out.note(here, f"expect {key}: {value!r} has no equal in surge's expect (status, content_type, json, "
                 "body_contains, max); a Python hook's after can check it")  # fmt: skip
    return expects


def _define_unset(out: Imported, columns: set[str]) -> None:
    """Variables a scenario uses that nothing in it sets (not a variable, a data column, a capture
    of that scenario or of setup, a loop's item): Artillery sends them empty, so the plan says so."""
    plan = out.plan
    defined = set(plan.get("variables", {})) | columns | {"loopElement"}
    shared = _captured(plan.get("setup", []))
    for scenario in plan["scenarios"]:
        used = _used(scenario["flow"])
        unset = sorted(used - defined - shared - _captured(scenario["flow"]))
        for name in unset:
            plan.setdefault("variables", {})[name] = ""
            defined.add(name)
            out.note(
                f'scenario "{scenario["name"]}"',
                f"{{{{ {name} }}}} is set by nothing in this scenario (a capture in another scenario does "
                "not carry over): Artillery sends it empty, and so does this plan (variables). Capture it "
                "in this scenario, or in setup for every iteration",
            )


def _used(node: object) -> set[str]:
    if isinstance(node, str):
        return {m for m in re.findall(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}", node)}
    if isinstance(node, dict):
        return set().union(*(_used(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_used(v) for v in node)) if node else set()
    return set()


def _captured(node: object) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "capture" and isinstance(value, list):
                names |= {str(c["as"]) for c in value if isinstance(c, dict) and "as" in c}
            else:
                names |= _captured(value)
    elif isinstance(node, list):
        for item in node:
            names |= _captured(item)
    return names


# --- values -------------------------------------------------------------------------------------

_ARTILLERY_FUNCS = {
    "$randomNumber": "$randint",
    "$randomString": "$randstr",
}


def _template(text: str, out: Imported, where: str) -> str:
    """Artillery's {{ }} expressions in surge's: $processEnvironment.X and $env.X -> $env.X,
    $randomNumber(a, b) -> $randint(a, b), $randomString(n) -> $randstr(n), $uuid kept."""

    def one(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        if expr.startswith(("$processEnvironment.", "$env.")):
            name = expr.split(".", 1)[1]
            _env_note(out, name)
            return "{{ $env." + name + " }}"
        if expr == "$uuid" or re.fullmatch(r"[A-Za-z_]\w*", expr):
            return "{{ " + expr + " }}"
        call = re.fullmatch(r"(\$\w+)\((.*)\)", expr)
        if call and call.group(1) in _ARTILLERY_FUNCS:
            return "{{ " + _ARTILLERY_FUNCS[call.group(1)] + "(" + call.group(2) + ") }}"
        if expr == "$loopElement":
            return "{{ loopElement }}"
        if expr == "$loopCount":
            out.note(where, "$loopCount counts passes from 1; surge's {{ $index }} counts from 0")
            return "{{ $index }}"
        out.note(where, f"{{{{ {expr} }}}}: an expression surge templates do not evaluate")
        return m.group(0)

    return re.sub(r"\{\{(.*?)\}\}", one, text)


def _env_note(out: Imported, name: str) -> None:
    text = (
        f"$env.{name}: set {name} in the environment of surge run; for --cloud runs store it with "
        f"`surge secret put {name}` and write {{{{ $secret.{name} }}}} (workers do not see your environment)"
    )
    if f"environment: {text}" not in out.notes:
        out.note("environment", text)


def _template_value(value: object, out: Imported, where: str) -> object:
    if isinstance(value, str):
        return _template(value, out, where)
    if isinstance(value, dict):
        return {str(k): _template_value(v, out, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_template_value(v, out, where) for v in value]
    return value


def _seconds(value: object) -> float | None:
    """Artillery durations: a number of seconds, or text such as 10s, 5m, 1h, 2min."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        from surge.units import parse_duration_s

        try:
            return parse_duration_s(value.replace("min", "m").replace("sec", "s"))
        except ValueError:
            return None
    return None


def _number(value: object, default: float) -> float:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else default
