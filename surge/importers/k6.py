"""The declarative parts of a k6 script as a surge plan (`surge import k6 script.js`). Nothing runs.

Read: ``export const options = {...}`` (vus + duration, stages, and the first scenario of the
arrival-rate and VU executors; thresholds, read as surge reads k6 thresholds in plans), top-level
string constants (``const BASE_URL = 'http://...'``, ``__ENV.X || 'default'``), and in the default
function (or the scenario's ``exec`` function), in order: ``http.get/post/put/patch/del/head(url,
body, params)`` with a literal or `${CONST}` URL, ``params.headers`` and ``params.tags.name``,
``check(res, {...: (r) => r.status === N})`` as the preceding request's expected status, and
``sleep(N)``. ``setup()``/``teardown()`` requests become setup/teardown. The rest is a note.
"""

from __future__ import annotations

import json
import re
from typing import Any

from surge.importers import Flow, Imported, ScriptError, duration

_CALL = re.compile(r"\b(?:http\.(?P<m>get|post|put|patch|del|head|options)|(?P<f>check|sleep|group))\s*\(")


class _Unread(ValueError):
    pass


def import_k6(text: str, source: str) -> Imported:
    code = _strip_comments(text)
    if not re.search(r"""['"]k6(/http)?['"]""", code):
        raise ScriptError(f"{source} does not import k6: not a k6 script")
    problem = _bracket_problem(code)
    if problem:
        raise ScriptError(f"{source}: not valid JavaScript ({problem}); k6 would refuse it too")
    out = Imported("k6", source, {"name": source.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "k6"})
    consts = _consts(code)
    options = _options(code, consts, out)
    exec_name = _load(options, out)
    body = _function_body(code, exec_name)
    if body is None:
        raise ScriptError(f"{source}: no function {exec_name}() with requests to import")
    steps = _steps(body, consts, out, f"{exec_name}()")
    if not steps:
        raise ScriptError(f"{source}: no http.* call surge can read in {exec_name}() (see the notes)")
    out.plan["target"] = _target(steps, out)
    out.plan["scenarios"] = [{"name": exec_name if exec_name != "default" else "default", "flow": steps}]
    for hook, section in (("setup", "setup"), ("teardown", "teardown")):
        hook_body = _function_body(code, hook)
        if hook_body:
            hook_steps = _steps(hook_body, consts, out, f"{hook}()")
            if hook_steps:
                _relative_to(out.plan["target"], hook_steps)
                out.plan[section] = hook_steps
    thresholds = options.get("thresholds")
    if isinstance(thresholds, dict):
        from surge.k6_thresholds import k6_checks

        checks: list[Any] = []
        for metric, exprs in thresholds.items():
            try:
                for spec in k6_checks(str(metric), exprs):
                    checks.append(spec["check"] if len(spec) == 1 else Flow(spec))
            except ValueError as exc:
                out.note(f"options.thresholds.{metric}", str(exc))
        if checks:
            out.plan["thresholds"] = checks
    # Move target first in the written plan: name, target, load, scenarios...
    order = ["name", "target", "load", "scenarios", "setup", "teardown", "thresholds"]
    out.plan = {k: out.plan[k] for k in order if k in out.plan}
    return out


# --- options and load ------------------------------------------------------------------------


def _bracket_problem(code: str) -> str | None:
    """The first unbalanced bracket outside strings (comments are already stripped): the syntax
    error most scripts that do not parse have. Template literals' ${} nest as code."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[tuple[str, int]] = []
    quote: str | None = None
    line = 1
    i = 0
    while i < len(code):
        ch = code[i]
        if ch == "\n":
            line += 1
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
            elif quote == "`" and code.startswith("${", i):
                stack.append(("${", line))
                quote = None
                i += 2
                continue
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            stack.append((ch, line))
        elif ch in ")]}":
            if not stack:
                return f"line {line}: '{ch}' closes nothing"
            opener, at = stack.pop()
            if opener == "${" and ch == "}":
                quote = "`"
            elif opener != pairs[ch]:
                return f"line {line}: '{ch}' closes the '{opener}' of line {at}"
        i += 1
    if quote is not None:
        return "a string is never closed"
    if stack:
        opener, at = stack[-1]
        return f"line {at}: '{opener}' is never closed"
    return None


def _options(code: str, consts: dict[str, str], out: Imported) -> dict[str, Any]:
    declared = re.search(r"export\s+(?:const|let|var)\s+options\s*=\s*(\S)", code)
    if declared and declared.group(1) != "{":
        raise ScriptError(
            f"options (line {code.count(chr(10), 0, declared.start()) + 1}) is not an object literal; "
            "k6 reads its load from `export const options = {...}`"
        )
    m = re.search(r"export\s+(?:const|let|var)\s+options\s*=\s*\{", code)
    if not m:
        out.note("options", "no `export const options`: one phase of 30s at 1 user (k6's default)")
        return {}
    text = _balanced(code, m.end() - 1, "{", "}")
    try:
        value = _js_value(text, consts)
    except _Unread as exc:
        out.note("options", f"cannot be read as a literal ({exc}); set the load by hand", lost=True)
        return {}
    return value if isinstance(value, dict) else {}


def _load(options: dict[str, Any], out: Imported) -> str:
    """Sets out.plan["load"]; returns the function the iterations run."""
    scenarios = options.get("scenarios")
    if isinstance(scenarios, dict) and scenarios:
        name, sc = next(iter(scenarios.items()))
        if len(scenarios) > 1:
            out.note("options.scenarios", f"{len(scenarios)} scenarios run at once in k6; surge imported the "
                     f"first ({name}): a plan's phases run one after another")  # fmt: skip
        if isinstance(sc, dict):
            out.plan["load"] = _executor(str(name), sc, out)
            return str(sc.get("exec", "default"))
    if isinstance(options.get("stages"), list):
        out.plan["load"] = {
            "phases": _stages(options["stages"], "users", int(options.get("vus", 0) or 0), 1.0, out)
        }
    else:
        vus = int(options.get("vus", 1) or 1)
        seconds = _seconds(options.get("duration", "30s"), out, "options.duration")
        if "iterations" in options:
            out.note("options.iterations", "a fixed iteration count: surge runs for a duration")
        out.plan["load"] = {"phases": [Flow(duration=duration(seconds), users=vus)]}
    return "default"


def _executor(name: str, sc: dict[str, Any], out: Imported) -> dict[str, Any]:
    kind = sc.get("executor")
    where = f"options.scenarios.{name}"
    per_s = 1.0 / _seconds(sc.get("timeUnit", "1s"), out, where)
    if kind == "constant-arrival-rate":
        rate = _whole(float(sc.get("rate", 1)) * per_s)
        load: dict[str, Any] = {
            "phases": [Flow(duration=duration(_seconds(sc.get("duration"), out, where)), rate=rate)]
        }
    elif kind == "ramping-arrival-rate":
        start = float(sc.get("startRate", 0)) * per_s
        load = {"phases": _stages(sc.get("stages") or [], "rate", start, per_s, out)}
    elif kind == "constant-vus":
        load = {
            "phases": [
                Flow(duration=duration(_seconds(sc.get("duration"), out, where)), users=int(sc.get("vus", 1)))
            ]
        }
    elif kind == "ramping-vus":
        load = {"phases": _stages(sc.get("stages") or [], "users", int(sc.get("startVUs", 1)), 1.0, out)}
    else:
        out.note(where, f"executor {kind}: imported as one phase of 30s at 1 user", lost=True)
        return {"phases": [Flow(duration="30s", users=1)]}
    if "maxVUs" in sc:
        load["max_in_flight"] = int(sc["maxVUs"])
    if "startTime" in sc:
        out.note(where, f"startTime {sc['startTime']}: a plan starts its load at once")
    return load


def _stages(stages: list[Any], key: str, start: float, per_s: float, out: Imported) -> list[Flow]:
    phases: list[Flow] = []
    level = start
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict):
            continue
        target = float(stage.get("target", 0)) * per_s
        seconds = _seconds(stage.get("duration"), out, f"stages[{i}]")
        phase = Flow(duration=duration(seconds))
        phase[key] = _whole(level) if key == "rate" else int(level)
        if target != level:
            phase["ramp_to"] = _whole(target) if key == "rate" else int(target)
        phases.append(phase)
        level = target
    return phases or [Flow(duration="30s", users=1)]


def _whole(number: float) -> float | int:
    return int(number) if float(number).is_integer() else round(number, 6)


def _seconds(value: object, out: Imported, where: str) -> float:
    from surge.units import parse_duration_s

    try:
        seconds = parse_duration_s(value if value is not None else "30s")
    except ValueError:
        out.note(where, f"duration {value!r} cannot be read: 30s", lost=True)
        return 30.0
    return seconds if seconds > 0 else 30.0


# --- the iteration's function ----------------------------------------------------------------------


def _function_body(code: str, name: str) -> str | None:
    if name == "default":
        m = re.search(r"export\s+default\s+(?:async\s+)?function\s*\w*\s*\([^)]*\)\s*\{", code)
    else:
        m = re.search(rf"(?:export\s+)?(?:async\s+)?function\s+{re.escape(name)}\s*\([^)]*\)\s*\{{", code)
        if not m:
            m = re.search(
                rf"(?:export\s+)?(?:const|let)\s+{re.escape(name)}\s*=\s*\([^)]*\)\s*=>\s*\{{", code
            )
    return _balanced(code, m.end() - 1, "{", "}")[1:-1] if m else None


def _steps(body: str, consts: dict[str, str], out: Imported, where: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for m in _CALL.finditer(body):
        args_text = _balanced(body, m.end() - 1, "(", ")")[1:-1]
        args = _split_args(args_text)
        line = body[: m.start()].count("\n") + 1
        if m.group("m"):
            step = _request(m.group("m"), args, consts, out, f"{where} line {line}")
            if step:
                steps.append(step)
        elif m.group("f") == "sleep":
            try:
                steps.append({"think": duration(float(_js_value(args[0], consts)))})
            except (_Unread, ValueError, IndexError, TypeError):
                out.note(f"{where} line {line}", f"sleep({args_text}): a computed pause; write think: 1s..3s")
        elif m.group("f") == "check":
            _check(args, steps, out, f"{where} line {line}")
    return steps


def _request(
    method: str, args: list[str], consts: dict[str, str], out: Imported, where: str
) -> dict[str, Any] | None:
    try:
        url = _js_value(args[0], consts)
    except (_Unread, IndexError) as exc:
        out.note(
            where, f"http.{method}({args[0] if args else ''}): a URL computed in JavaScript ({exc}); left out"
        )
        return None
    if not isinstance(url, str):
        return None
    req: dict[str, Any] = {"url": url}
    body_at, params_at = (None, 1) if method in ("get", "head", "del", "options") else (1, 2)
    if body_at is not None and len(args) > body_at and args[body_at].strip() not in ("null", "undefined"):
        text = args[body_at].strip()
        inner = re.fullmatch(r"JSON\.stringify\((.*)\)", text, re.S)
        try:
            if inner:
                req["json"] = _js_value(inner.group(1), consts)
            else:
                value = _js_value(text, consts)
                if isinstance(value, dict):
                    req["form"] = value  # k6 sends an object body form-encoded
                else:
                    req["body"] = str(value)
        except _Unread as exc:
            out.note(
                where, f"http.{method} body {text[:60]}: computed in JavaScript ({exc}); left out", lost=True
            )
    if len(args) > params_at:
        try:
            params = _js_value(args[params_at], consts)
        except _Unread as exc:
            out.note(where, f"http.{method} params: computed in JavaScript ({exc}); left out", lost=True)
            params = {}
        if isinstance(params, dict):
            if isinstance(params.get("headers"), dict):
                req["headers"] = {str(k): str(v) for k, v in params["headers"].items()}
            tags = params.get("tags")
            if isinstance(tags, dict) and isinstance(tags.get("name"), str):
                req["name"] = tags["name"]
    verb = "delete" if method == "del" else method
    return {verb: req}


def _check(args: list[str], steps: list[dict[str, Any]], out: Imported, where: str) -> None:
    statuses = [int(s) for s in re.findall(r"\.status\s*===?\s*(\d{3})", ",".join(args[1:]))]
    others = len(re.findall(r"=>", ",".join(args[1:]))) - len(statuses)
    if statuses and steps:
        last = next((s for s in reversed(steps) if "think" not in s), None)
        if last is not None:
            req = next(iter(last.values()))
            req.setdefault("expect", []).append(Flow(status=statuses[0] if len(statuses) == 1 else statuses))
    if others > 0:
        out.note(where, f"check: {others} condition(s) other than status ===; write them as expect (json, "
                 "body_contains) or an after hook")  # fmt: skip


def _relative_to(host: str, steps: list[dict[str, Any]]) -> None:
    """URLs on the target's host as paths, as plans write them."""
    for step in steps:
        for value in step.values():
            url = value.get("url") if isinstance(value, dict) else None
            if isinstance(url, str) and (url == host or url.startswith(host + "/")):
                value["url"] = url[len(host) :] or "/"


def _target(steps: list[dict[str, Any]], out: Imported) -> str:
    """The scheme and host the URLs share becomes the target; their paths stay in the requests."""
    hosts: set[str] = set()
    for step in steps:
        for value in step.values():
            if isinstance(value, dict) and isinstance(value.get("url"), str):
                m = re.match(r"^(https?://[^/]+)(/.*)?$", value["url"])
                if m:
                    hosts.add(m.group(1))
    if len(hosts) == 1:
        host = hosts.pop()
        _relative_to(host, steps)
        return host
    if len(hosts) > 1:
        out.note(
            "target",
            f"requests go to {len(hosts)} hosts; the first is the target, the others need allow_hosts",
        )
        return sorted(hosts)[0]
    out.note("target", "no absolute URL: set the target here or pass --target")
    return "http://127.0.0.1:8080"


# --- a small reader for JavaScript literals ---------------------------------------------------------


def _consts(code: str) -> dict[str, str]:
    consts: dict[str, str] = {}
    for m in re.finditer(r"^(?:export\s+)?(?:const|let|var)\s+(\w+)\s*=\s*(.+?);?\s*$", code, re.M):
        try:
            value = _js_value(m.group(2), consts)
        except _Unread:
            continue
        if isinstance(value, str | int | float):
            consts[m.group(1)] = str(value)
    return consts


def _strip_comments(code: str) -> str:
    out, i, quote = [], 0, ""
    while i < len(code):
        c = code[i]
        if quote:
            out.append(c)
            if c == "\\" and i + 1 < len(code):
                out.append(code[i + 1])
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
            out.append(c)
        elif code.startswith("//", i):
            while i < len(code) and code[i] != "\n":
                i += 1
            continue
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            i = len(code) if end < 0 else end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _balanced(text: str, start: int, open_: str, close: str) -> str:
    depth, i, quote = 0, start, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
        i += 1
    return text[start:]


def _split_args(text: str) -> list[str]:
    args, depth, quote, current = [], 0, "", []
    for i, c in enumerate(text):
        if quote:
            current.append(c)
            if c == quote and text[i - 1] != "\\":
                quote = ""
            continue
        if c in "'\"`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            continue
        current.append(c)
    if "".join(current).strip():
        args.append("".join(current).strip())
    return args


_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`)|(?P<num>-?\d+(?:\.\d+)?(?:e-?\d+)?)"""
    r"""|(?P<env>__ENV\.\w+(?:\s*\|\|\s*(?:'[^']*'|"[^"]*"))?)|(?P<word>[A-Za-z_$][\w$]*)|(?P<p>[{}\[\]:,+]))""",
    re.S,
)


def _js_value(text: str, consts: dict[str, str]) -> Any:
    """A JavaScript literal (objects with bare or quoted keys, arrays, strings, template strings with
    ${CONST}, numbers, booleans, null, __ENV.X [|| 'default'], a string constant, 'a' + 'b')."""
    tokens: list[tuple[str, str]] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _Unread(f"'{text[pos : pos + 20].strip()}'")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    try:
        value, i = _parse(tokens, 0, consts)
    except IndexError:
        raise _Unread("an unfinished literal") from None
    if i != len(tokens):
        raise _Unread(f"'{tokens[i][1]}'")
    return value


def _parse(tokens: list[tuple[str, str]], i: int, consts: dict[str, str]) -> tuple[Any, int]:
    value, i = _atom(tokens, i, consts)
    while i < len(tokens) and tokens[i] == ("p", "+"):
        right, i = _atom(tokens, i + 1, consts)
        value = f"{value}{right}"
    return value, i


def _atom(tokens: list[tuple[str, str]], i: int, consts: dict[str, str]) -> tuple[Any, int]:
    if i >= len(tokens):
        raise _Unread("the end")
    kind, text = tokens[i]
    if kind == "str":
        return _string(text, consts), i + 1
    if kind == "num":
        number = float(text)
        return (int(number) if number.is_integer() and "." not in text else number), i + 1
    if kind == "env":
        default = re.search(r"\|\|\s*(['\"])(.*)\1", text)
        if default:
            return default.group(2), i + 1  # the script's own default: runs without the variable
        return "{{ $env." + text.removeprefix("__ENV.") + " }}", i + 1
    if kind == "word":
        words = {"true": True, "false": False, "null": None, "undefined": None}
        if text in words:
            return words[text], i + 1
        if text in consts:
            return consts[text], i + 1
        raise _Unread(f"'{text}'")
    if text == "{":
        obj: dict[str, Any] = {}
        i += 1
        while tokens[i] != ("p", "}"):
            key_kind, key = tokens[i]
            key = _string(key, consts) if key_kind == "str" else key
            if tokens[i + 1] != ("p", ":"):
                raise _Unread(f"'{key}' without a value")
            obj[str(key)], i = _parse(tokens, i + 2, consts)
            if tokens[i] == ("p", ","):
                i += 1
        return obj, i + 1
    if text == "[":
        items: list[Any] = []
        i += 1
        while tokens[i] != ("p", "]"):
            item, i = _parse(tokens, i, consts)
            items.append(item)
            if tokens[i] == ("p", ","):
                i += 1
        return items, i + 1
    raise _Unread(f"'{text}'")


def _string(token: str, consts: dict[str, str]) -> str:
    body = token[1:-1]
    if token[0] == "`":

        def sub(m: re.Match[str]) -> str:
            expr = m.group(1).strip()
            if expr in consts:
                return consts[expr]
            env = re.fullmatch(r"__ENV\.(\w+)", expr)
            if env:
                return "{{ $env." + env.group(1) + " }}"
            raise _Unread(f"${{{expr}}}")

        return re.sub(r"\$\{([^}]*)\}", sub, body)
    return str(json.loads('"' + body.replace('\\"', '"').replace('"', '\\"') + '"')) if "\\" in body else body
