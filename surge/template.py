"""``{{ var }}`` templating for paths, headers and bodies.

Templates are compiled once per plan into parts so the request loop only joins strings.
Built-ins generate realistic payloads for ingestion tests: ``{{ $uuid }}``, ``{{ $timestamp }}``
(ms since epoch), ``{{ $isotime }}``, ``{{ $randint(1, 100) }}``, ``{{ $randstr(8) }}``,
``{{ $choice(a, b, c) }}``, ``{{ $env.NAME }}``, ``{{ $iteration }}``, ``{{ $worker }}``,
``{{ $index }}`` (the innermost loop's 0-based pass).

References to stored secrets, ``{{ $secret.NAME }}`` (Secrets Manager) and ``{{ $ssm.NAME }}``
(Parameter Store), are resolved before a run (surge.secrets) and handed in through the same
mapping as the environment, under the keys ``$secret.NAME`` and ``$ssm.NAME``.
"""

from __future__ import annotations

import os
import random
import re
import string
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_FUNC = re.compile(r"^\$(\w+)(?:\((.*)\))?$")
_CALL = re.compile(r"^([A-Za-z_]\w*)\((.*)\)$")  # a hook function: {{ sign(body, 'v1') }}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
HOOKS_KEY = "$hooks"  # where the variables hold the plan's hook functions (surge.hooks)
_NAME = re.compile(r"^[A-Za-z_][\w]*$")

BUILTINS = ("uuid", "timestamp", "isotime", "randint", "randstr", "choice", "iteration", "worker", "index")


class TemplateError(ValueError):
    pass


class HookCallError(TemplateError):
    """A hook function called in a template raised (the request fails with class ``hook``)."""

    def __init__(self, name: str, exc: BaseException) -> None:
        super().__init__(f"{name}(): {type(exc).__name__}: {exc}")
        self.name = name
        self.original = exc


Generator = Callable[[random.Random, Mapping[str, object]], object]


def _randint(args: list[str]) -> Generator:
    try:
        lo, hi = (int(a) for a in args)
    except ValueError as exc:
        raise TemplateError("$randint takes two integers: $randint(1, 100)") from exc
    if lo > hi:
        raise TemplateError("$randint(lo, hi) needs lo <= hi")
    return lambda rng, _v: rng.randint(lo, hi)


MAX_RANDSTR = 1_000_000


_RANDINT_ARG = re.compile(r"^\$randint\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)$")


def _randstr(argtext: str) -> Generator:
    """``$randstr(n)``: n random letters and digits; ``$randstr(lo, hi)`` or
    ``$randstr($randint(lo, hi))``: a length drawn from lo..hi for each value (payloads that vary in size)."""
    nested = _RANDINT_ARG.match(argtext.strip())
    args = [nested.group(1), nested.group(2)] if nested else [a.strip() for a in argtext.split(",")]
    try:
        lengths = [int(a) for a in args]
    except ValueError as exc:
        raise TemplateError("$randstr takes a length, or a range: $randstr(8), $randstr(300, 600)") from exc
    if len(lengths) not in (1, 2):
        raise TemplateError("$randstr takes a length, or a range: $randstr(8), $randstr(300, 600)")
    lo, hi = lengths[0], lengths[-1]
    if lo < 0 or lo > hi:
        raise TemplateError("$randstr needs lengths >= 0, the smaller first: $randstr(300, 600)")
    if hi > MAX_RANDSTR:
        # Built per request: tens of megabytes each would stall the worker, not load the target.
        raise TemplateError(f"$randstr({hi}) is too long: at most {MAX_RANDSTR:,} characters per value")
    alphabet = string.ascii_letters + string.digits
    if lo == hi:
        return lambda rng, _v: "".join(rng.choices(alphabet, k=lo))
    return lambda rng, _v: "".join(rng.choices(alphabet, k=rng.randint(lo, hi)))


def _choice(args: list[str]) -> Generator:
    if not args or not all(args):
        raise TemplateError("$choice takes one or more values: $choice(red, green)")
    return lambda rng, _v: rng.choice(args)


def _builtin(expr: str) -> Generator:
    m = _FUNC.match(expr)
    if not m:
        raise TemplateError(f"'{{{{ {expr} }}}}' is not a known built-in")
    name, argtext = m.group(1), m.group(2)
    args = [a.strip() for a in argtext.split(",")] if argtext else []
    if name == "env":
        raise TemplateError("use $env.NAME to read an environment variable")
    if name == "uuid":
        return lambda rng, _v: str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if name == "timestamp":
        return lambda _r, _v: int(time.time() * 1000)
    if name == "isotime":
        return lambda _r, _v: datetime.now(UTC).isoformat(timespec="milliseconds")
    if name == "randint":
        return _randint(args)
    if name == "randstr":
        return _randstr(argtext or "")
    if name == "choice":
        return _choice(args)
    if name in ("iteration", "worker", "index"):  # $index: the innermost loop's pass
        key = f"${name}"
        return lambda _r, v: v.get(key, 0)
    raise TemplateError(f"unknown built-in ${name}; known: " + ", ".join(f"${b}" for b in BUILTINS))


@dataclass(frozen=True)
class Part:
    literal: str | None = None
    var: str | None = None
    gen: Generator | None = None
    call: str | None = None  # a hook function's name (gen calls it)
    call_vars: frozenset[str] = frozenset()  # the variables its arguments read


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[Part, ...]

    @property
    def is_static(self) -> bool:
        return all(p.literal is not None for p in self.parts)

    @property
    def variables(self) -> frozenset[str]:
        names = {p.var for p in self.parts if p.var is not None}
        return frozenset(names.union(*(p.call_vars for p in self.parts)))

    @property
    def calls(self) -> frozenset[str]:
        return frozenset(p.call for p in self.parts if p.call is not None)

    def render_value(self, variables: Mapping[str, object], rng: random.Random) -> object:
        """A template that is exactly one placeholder keeps its value's type (ints stay ints)."""
        if len(self.parts) == 1 and self.parts[0].literal is None:
            return _part_value(self.parts[0], variables, rng)
        return self.render(variables, rng)

    def render(self, variables: Mapping[str, object], rng: random.Random) -> str:
        if len(self.parts) == 1 and self.parts[0].literal is not None:
            return self.parts[0].literal
        return "".join(
            p.literal if p.literal is not None else _text(_part_value(p, variables, rng)) for p in self.parts
        )


def _text(value: object) -> str:
    return "" if value is None else str(value)  # an empty (optional) capture renders as nothing


def _split_args(argtext: str) -> list[str]:
    """Arguments split at commas outside quotes: ``a, 'x, y', 3`` -> ``a``, ``'x, y'``, ``3``."""
    args: list[str] = []
    current, quote = "", ""
    for ch in argtext:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            args.append(current.strip())
            current = ""
            continue
        current += ch
    if current.strip() or args:
        args.append(current.strip())
    return args


def _hook_call(name: str, argtext: str) -> Part:
    """``name(a, 'text', 3)``: a hook function called with variables' values and literals."""
    args: list[tuple[bool, object]] = []  # (is a variable, the name or the value)
    for raw in _split_args(argtext):
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            args.append((False, raw[1:-1]))
        elif _NUMBER.match(raw):
            args.append((False, float(raw) if "." in raw else int(raw)))
        elif _NAME.match(raw) or raw in ("$iteration", "$worker", "$index"):
            args.append((True, raw))
        else:
            raise TemplateError(f"{name}(): '{raw}' is not a variable name, a number or a quoted text")

    def call(_rng: random.Random, variables: Mapping[str, object]) -> object:
        hooks = variables.get(HOOKS_KEY)
        fn = hooks.get(name) if isinstance(hooks, Mapping) else None
        if not callable(fn):
            raise TemplateError(f"{name}() is not a function of the plan's hooks file")
        values = []
        for is_var, value in args:
            if is_var:
                if value not in variables:
                    raise TemplateError(f"variable '{value}' has no value in this iteration")
                values.append(variables[str(value)])
            else:
                values.append(value)
        try:
            return fn(*values)
        except Exception as exc:  # the user's code: a failed request of class hook
            raise HookCallError(name, exc) from None

    names = frozenset(str(v) for is_var, v in args if is_var and not str(v).startswith("$"))
    return Part(gen=call, call=name, call_vars=names)


def _part_value(part: Part, variables: Mapping[str, object], rng: random.Random) -> object:
    if part.gen is not None:
        return part.gen(rng, variables)
    assert part.var is not None
    try:
        return variables[part.var]
    except KeyError:
        raise TemplateError(f"variable '{part.var}' has no value in this iteration") from None


SECRET_KINDS = ("secret", "ssm")
_SECRET_REF = re.compile(r"^\$(secret|ssm)\.([A-Za-z0-9_][A-Za-z0-9_./-]*)$")


def secret_ref(expr: str) -> tuple[str, str] | None:
    """``("secret", NAME)`` for ``$secret.NAME``, ``("ssm", NAME)`` for ``$ssm.NAME``."""
    m = _SECRET_REF.match(expr)
    return (m.group(1), m.group(2)) if m else None


def compile_template(source: str, environ: Mapping[str, str] | None = None) -> Template:
    """Compile once. ``$env.NAME`` (and a resolved ``$secret``/``$ssm`` reference) is resolved
    now, so a missing variable fails validation."""
    env = os.environ if environ is None else environ
    parts: list[Part] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(source):
        if m.start() > pos:
            parts.append(Part(literal=source[pos : m.start()]))
        expr = m.group(1)
        ref = secret_ref(expr) if expr.startswith(("$secret", "$ssm")) else None
        if ref is not None:
            if expr not in env:
                store = "Secrets Manager" if ref[0] == "secret" else "Parameter Store"
                raise TemplateError(f"{{{{ {expr} }}}} was not read from {store} before the run")
            parts.append(Part(literal=env[expr]))
        elif expr.startswith(("$secret.", "$ssm.")):
            raise TemplateError(
                f"'{{{{ {expr} }}}}': a secret's name is letters, digits and _ . / - (e.g. $secret.checkout/api-token)"
            )
        elif expr.startswith("$env."):
            name = expr[5:]
            if name not in env:
                raise TemplateError(
                    f"environment variable {name} is not set (referenced as {{{{ {expr} }}}})"
                )
            parts.append(Part(literal=env[name]))
        elif expr.startswith("$"):
            parts.append(Part(gen=_builtin(expr)))
        elif _NAME.match(expr):
            parts.append(Part(var=expr))
        elif m_call := _CALL.match(expr):
            parts.append(_hook_call(m_call.group(1), m_call.group(2)))
        else:
            raise TemplateError(
                f"'{{{{ {expr} }}}}' is neither a variable name, a $built-in nor a hook call such as sign(body)"
            )
        pos = m.end()
    if pos < len(source) or not parts:
        rest = source[pos:]
        if "{{" in rest:
            raise TemplateError(f"'{rest}' has '{{{{' without a closing '}}}}'")
        parts.append(Part(literal=rest))
    return Template(source, tuple(parts))


def compile_structure(value: object, environ: Mapping[str, str] | None = None) -> object:
    """Compile every string inside a JSON-like structure; other values stay as they are."""
    if isinstance(value, str):
        t = compile_template(value, environ)
        return t.parts[0].literal if t.is_static and len(t.parts) == 1 else t
    if isinstance(value, list):
        return [compile_structure(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: compile_structure(v, environ) for k, v in value.items()}
    return value


def render_structure(value: object, variables: Mapping[str, object], rng: random.Random) -> object:
    if isinstance(value, Template):
        return value.render_value(variables, rng)
    if isinstance(value, list):
        return [render_structure(v, variables, rng) for v in value]
    if isinstance(value, dict):
        return {k: render_structure(v, variables, rng) for k, v in value.items()}
    return value


def structure_calls(value: object) -> frozenset[str]:
    """The hook functions a compiled structure calls."""
    if isinstance(value, Template):
        return value.calls
    if isinstance(value, list):
        return frozenset().union(*(structure_calls(v) for v in value))
    if isinstance(value, dict):
        return frozenset().union(*(structure_calls(v) for v in value.values()))
    return frozenset()


def structure_variables(value: object) -> frozenset[str]:
    if isinstance(value, Template):
        return value.variables
    if isinstance(value, list):
        return frozenset().union(*(structure_variables(v) for v in value)) if value else frozenset()
    if isinstance(value, dict):
        vals = list(value.values())
        return frozenset().union(*(structure_variables(v) for v in vals)) if vals else frozenset()
    return frozenset()
