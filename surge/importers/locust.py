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
        attrs, counters = _self_values(user)
        for item in user.body:
            if not isinstance(item, ast.FunctionDef):
                continue
            where = f"{user.name}.{item.name}"
            if item.name == "on_start":
                on_start.extend(_steps(item.body, where, out, _Scope(attrs, counters)))
                continue
            weight = _task_weight(item)
            if weight is None:
                if item.name != "on_stop":
                    continue  # a helper, called from tasks: its calls are noted where they are made
                out.note(where, "on_stop: a teardown per user; surge's teardown runs once per run")
                continue
            steps = _steps(item.body, where, out, _Scope(attrs, counters))
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


def _steps(body: list[ast.stmt], where: str, out: Imported, scope: _Scope) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for stmt in body:
        if _client_call(stmt) is None and _keeps_a_value(stmt, scope):
            continue  # a value a request may use: read where it is used
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            continue  # a docstring
        call = _client_call(stmt)
        if call is not None:
            step = _request(call, where, out, scope)
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


def _request(call: ast.Call, where: str, out: Imported, scope: _Scope) -> dict[str, Any] | None:
    assert isinstance(call.func, ast.Attribute)
    method = call.func.attr
    url = scope.value(call.args[0] if call.args else _kw(call, "url"))
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
        value = scope.value(node)
        if value is _UNREAD:
            out.note(
                where,
                f"line {call.lineno}: {key}={ast.unparse(node)} is computed in Python; left out",
                lost=True,
            )
            continue
        req[field] = value
    data = _kw(call, "data")
    if data is not None:
        value = scope.value(data)
        if isinstance(value, dict):
            req["form"] = value
        elif isinstance(value, str):
            req["body"] = value
        else:
            out.note(
                where,
                f"line {call.lineno}: data={ast.unparse(data)} is computed in Python; left out",
                lost=True,
            )
    for kw in call.keywords:
        if kw.arg not in ("name", "headers", "params", "json", "data", "url", "catch_response", None):
            out.note(where, f"line {call.lineno}: {kw.arg}= is a requests option surge does not have")
    for text in scope.take_notes():
        out.note(where, f"line {call.lineno}: {text}", lost=text.startswith("stand-in"))
    # surge names endpoints METHOD path by default; Locust's stats rows are Type + Name.
    return {method: req}


_UNREAD = object()
_DEPTH = 20  # names that refer to names: far enough for real scripts, never a loop


def _self_values(user: ast.ClassDef) -> tuple[dict[str, ast.expr], set[str]]:
    """``self.X = value`` in on_start (what each user starts with), and the attributes a task
    counts up with ``self.X += 1`` (a per-user count: the iteration number is its nearest)."""
    attrs: dict[str, ast.expr] = {}
    counters: set[str] = set()
    for fn in (n for n in user.body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            if fn.name == "on_start" and isinstance(node, ast.Assign) and len(node.targets) == 1:
                name = _self_attr(node.targets[0])
                if name is not None:
                    attrs[name] = node.value
            elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
                name = _self_attr(node.target)
                if name is not None:
                    counters.add(name)
    return attrs, counters


def _plain(value: object) -> bool:
    """A value $choice can list: a number or a text without commas or braces."""
    return isinstance(value, str | int | float) and not any(c in str(value) for c in ",{}()")


def _self_attr(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _keeps_a_value(stmt: ast.stmt, scope: _Scope) -> bool:
    """A local assigned (``payload = {...}``) or a per-user attribute set or counted: kept in the
    scope for the requests that use it, not a statement surge has to run."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            scope.local[target.id] = stmt.value
            return True
        return _self_attr(target) is not None
    return isinstance(stmt, ast.AugAssign) and _self_attr(stmt.target) in scope.counters


class _Scope:
    """What a task's names stand for, as plan values: literals, the task's own locals and the
    user's attributes, and the few library calls surge has a template for."""

    def __init__(self, attrs: dict[str, ast.expr], counters: set[str]) -> None:
        self.attrs, self.counters = attrs, counters
        self.local: dict[str, ast.expr] = {}
        self._notes: list[str] = []

    def take_notes(self) -> list[str]:
        notes, self._notes = list(dict.fromkeys(self._notes)), []
        return notes

    def value(self, node: ast.expr | None, depth: int = 0) -> Any:
        """The plan value of ``node``, or _UNREAD. A part of a payload no template can write is
        kept as a visible stand-in (noted), so the request keeps its shape."""
        if node is None or depth > _DEPTH:
            return _UNREAD
        literal = _literal(node)
        if literal is not _UNREAD:
            return literal
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                return _UNREAD  # **spread
            keys = [self.value(k, depth + 1) for k in node.keys if k is not None]
            if not all(isinstance(k, str) for k in keys):
                return _UNREAD
            return {k: self._leaf(v, depth) for k, v in zip(keys, node.values, strict=True)}
        if isinstance(node, ast.List | ast.Tuple):
            return [self._leaf(v, depth) for v in node.elts]
        if isinstance(node, ast.Name) and node.id in self.local:
            return self.value(self.local[node.id], depth + 1)
        name = _self_attr(node)
        if name is not None and name in self.counters:
            self._notes.append(f"self.{name} (a count the task adds to) is written as {{{{ $iteration }}}}")
            return "{{ $iteration }}"
        if name is not None and name in self.attrs:
            return self.value(self.attrs[name], depth + 1)
        if isinstance(node, ast.JoinedStr):
            return self._joined(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        return _UNREAD

    def _leaf(self, node: ast.expr, depth: int) -> Any:
        value = self.value(node, depth + 1)
        if value is _UNREAD:
            shown = ast.unparse(node)
            self._notes.append(
                f"stand-in for `{shown}`, computed in Python: write it with {{{{ variables }}}}"
            )
            return f"<python: {shown}>"
        return value

    def _joined(self, node: ast.JoinedStr, depth: int) -> Any:
        parts: list[str] = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                parts.append(str(part.value))
                continue
            assert isinstance(part, ast.FormattedValue)
            value = self.value(part.value, depth + 1)
            if part.format_spec is not None or part.conversion not in (-1, ord("s")):
                return _UNREAD
            if value is _UNREAD or isinstance(value, dict | list):
                return _UNREAD
            parts.append(str(value))
        return "".join(parts)

    def _call(self, node: ast.Call, depth: int) -> Any:
        fn = ast.unparse(node.func)
        args = [self.value(a, depth + 1) for a in node.args]
        if fn == "str" and len(args) == 1 and isinstance(args[0], str | int | float):
            return str(args[0])
        if fn in ("uuid.uuid4", "uuid4") and not args:
            return "{{ $uuid }}"
        iso = (
            "time.strftime",
            "datetime.utcnow().isoformat",
            "datetime.now().isoformat",
            "datetime.now(UTC).isoformat",
        )
        if fn in iso or (fn.endswith(".isoformat") and "now" in fn):
            self._notes.append(f"`{ast.unparse(node)}` is written as {{{{ $isotime }}}} (ISO 8601, UTC, ms)")
            return "{{ $isotime }}"
        if fn in ("random.randint", "randint") and len(args) == 2 and all(type(a) is int for a in args):
            return f"{{{{ $randint({args[0]}, {args[1]}) }}}}"
        options = args[0] if len(args) == 1 and isinstance(args[0], list) else []
        if fn in ("random.choice", "choice") and options and all(_plain(a) for a in options):
            return "{{ $choice(" + ", ".join(str(a) for a in options) + ") }}"
        return _UNREAD


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
