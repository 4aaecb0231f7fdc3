"""A locustfile as a surge plan (`surge import locust locustfile.py`), read as Python's syntax tree:
nothing in it is run.

Mapped: HttpUser/FastHttpUser classes (``host``, ``weight``, ``wait_time`` = between / constant /
constant_pacing), ``@task`` / ``@task(N)`` methods as weighted scenarios, ``on_start`` as the plan's
``on_start``, and ``self.client.get/post/put/patch/delete/head/options`` calls with a literal URL
and ``name=``, ``headers=``, ``params=``, ``json=``, ``data=``. Locust takes users and run time from
its command line, so the plan gets one closed-model phase to edit. What cannot be read (other Python
statements, computed URLs, response handling) becomes a note (surge.importers).
"""

from __future__ import annotations

import ast
from typing import Any

from surge.importers import Flow, Imported, ScriptError, duration

_USER_BASES = {"HttpUser", "FastHttpUser"}
_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def import_locust(text: str, source: str) -> Imported:
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as exc:
        raise ScriptError(f"{source} is not Python: line {exc.lineno}: {exc.msg}") from None
    users = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(_name(b) in _USER_BASES for b in node.bases)
    ]
    if not users:
        raise ScriptError(f"{source} has no HttpUser or FastHttpUser class: nothing for surge to import")
    stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    out = Imported("locust", source, {"name": stem or "locust"})
    hosts = [h for u in users if (h := _class_value(u, "host")) is not None]
    if hosts and isinstance(hosts[0], str):
        out.plan["target"] = hosts[0]
    else:
        out.plan["target"] = "http://127.0.0.1:8080"
        out.note("host", "no host in the file (Locust takes --host): set target here or pass --target")
    load: dict[str, Any] = {
        "phases": [Flow(duration="60s", users=10)],
    }
    out.note(
        "load",
        "Locust takes users, spawn rate and run time from its command line (-u, -r, -t): the plan has "
        "one phase of 60s at 10 users; `surge run` takes the same flags (surge run plan.yaml -u 50 -r 5 "
        "-t 2m), or write the phases (a spawn rate is a phase with users and ramp_to)",
    )
    _wait_time(users[0], load, out)
    out.plan["load"] = load
    scenarios: list[dict[str, Any]] = []
    on_start: list[dict[str, Any]] = []
    for user in users:
        user_weight = _class_value(user, "weight")
        for item in user.body:
            if not isinstance(item, ast.FunctionDef):
                continue
            where = f"{user.name}.{item.name}"
            if item.name == "on_start":
                on_start.extend(_steps(item.body, where, out))
                continue
            weight = _task_weight(item)
            if weight is None:
                if item.name != "on_stop":
                    continue  # a helper, called from tasks: its calls are noted where they are made
                out.note(where, "on_stop: a teardown per user; surge's teardown runs once per run")
                continue
            steps = _steps(item.body, where, out)
            if not steps:
                out.note(where, "no request could be read from this task; left out")
                continue
            scenario: dict[str, Any] = {"name": item.name if len(users) == 1 else where}
            total = weight * (user_weight if isinstance(user_weight, int | float) else 1)
            if total != 1:
                scenario["weight"] = total
            scenario["flow"] = steps
            scenarios.append(scenario)
        if any(isinstance(s, ast.Assign) and _target(s) == "tasks" for s in user.body):
            out.note(f"{user.name}.tasks", "a tasks list or dict: write each as a @task method to import it")
    if not scenarios:
        raise ScriptError(f"{source}: no @task method with a request surge can read (see the notes)")
    out.plan["scenarios"] = scenarios
    if on_start:
        out.plan["on_start"] = on_start
    if len(users) > 1:
        out.note("users", f"{len(users)} user classes: their tasks are scenarios of one plan, weighted by task "
                 "and class weight; wait_time is the first class's")  # fmt: skip
    return out


def _wait_time(user: ast.ClassDef, load: dict[str, Any], out: Imported) -> None:
    for stmt in user.body:
        if not (isinstance(stmt, ast.Assign) and _target(stmt) == "wait_time"):
            continue
        call = stmt.value
        args = [_literal(a) for a in call.args] if isinstance(call, ast.Call) else []
        fn = _name(call.func) if isinstance(call, ast.Call) else None
        if not all(isinstance(a, int | float) for a in args):
            fn = None
        if fn == "between" and len(args) == 2:
            load["think_time"] = f"{duration(float(args[0]))}..{duration(float(args[1]))}"
        elif fn == "constant" and len(args) == 1:
            load["think_time"] = duration(float(args[0]))
        elif fn == "constant_pacing" and len(args) == 1:
            load["pace"] = duration(float(args[0]))
        else:
            out.note(f"{user.name}.wait_time", f"{ast.unparse(stmt.value)}: surge reads between, constant and "
                     "constant_pacing with numbers")  # fmt: skip


def _steps(body: list[ast.stmt], where: str, out: Imported) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for stmt in body:
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            continue  # a docstring
        call = _client_call(stmt)
        if call is not None:
            step = _request(call, where, out)
            if step is not None:
                steps.append(step)
            if isinstance(stmt, ast.With):
                out.note(where, f"line {stmt.lineno}: the response is checked in Python (catch_response); write "
                         "it as expect (status, json) or an after hook")  # fmt: skip
            continue
        if isinstance(stmt, ast.Pass):
            continue
        out.note(
            where,
            f"line {stmt.lineno}: `{ast.unparse(stmt).splitlines()[0][:80]}` is Python surge does not run",
        )
    return steps


def _client_call(stmt: ast.stmt) -> ast.Call | None:
    """self.client.METHOD(...) as a statement, assigned, or in a `with` (catch_response)."""
    value: ast.expr | None = None
    if isinstance(stmt, ast.Expr | ast.Assign):
        value = stmt.value
    elif isinstance(stmt, ast.With) and stmt.items:
        value = stmt.items[0].context_expr
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in _METHODS
        and isinstance(value.func.value, ast.Attribute)
        and value.func.value.attr == "client"
    ):
        return value
    return None


def _request(call: ast.Call, where: str, out: Imported) -> dict[str, Any] | None:
    assert isinstance(call.func, ast.Attribute)
    method = call.func.attr
    url = _literal(call.args[0]) if call.args else _literal(_kw(call, "url"))
    if not isinstance(url, str):
        shown = ast.unparse(call.args[0]) if call.args else "?"
        out.note(where, f"line {call.lineno}: {method} {shown}: a URL computed in Python; write it with "
                 "{{ variables }} (captured values, data columns)")  # fmt: skip
        return None
    req: dict[str, Any] = {"url": url}
    for key, field in (("name", "name"), ("headers", "headers"), ("params", "query"), ("json", "json")):
        node = _kw(call, key)
        if node is None:
            continue
        value = _literal(node)
        if value is _UNREAD:
            out.note(where, f"line {call.lineno}: {key}={ast.unparse(node)} is computed in Python; left out")
            continue
        req[field] = value
    data = _kw(call, "data")
    if data is not None:
        value = _literal(data)
        if isinstance(value, dict):
            req["form"] = value
        elif isinstance(value, str):
            req["body"] = value
        else:
            out.note(where, f"line {call.lineno}: data={ast.unparse(data)} is computed in Python; left out")
    for kw in call.keywords:
        if kw.arg not in ("name", "headers", "params", "json", "data", "url", "catch_response", None):
            out.note(where, f"line {call.lineno}: {kw.arg}= is a requests option surge does not have")
    # surge names endpoints METHOD path by default; Locust's stats rows are Type + Name.
    return {method: req}


_UNREAD = object()


def _literal(node: ast.expr | None) -> Any:
    if node is None:
        return _UNREAD
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return _UNREAD


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _task_weight(fn: ast.FunctionDef) -> float | None:
    for dec in fn.decorator_list:
        if _name(dec) == "task":
            return 1
        if isinstance(dec, ast.Call) and _name(dec.func) == "task":
            weight = _literal(dec.args[0]) if dec.args else 1
            return weight if isinstance(weight, int | float) and not isinstance(weight, bool) else 1
    return None


def _class_value(cls: ast.ClassDef, name: str) -> Any:
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and _target(stmt) == name:
            value = _literal(stmt.value)
            return None if value is _UNREAD else value
    return None


def _target(stmt: ast.Assign) -> str | None:
    return stmt.targets[0].id if len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) else None


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None
