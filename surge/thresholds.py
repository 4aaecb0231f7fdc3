"""Threshold expressions: ``http.latency.p95 < 500ms``, ``endpoint["POST /events"].p99 < 300ms``.

Pure parsing. A threshold names a metric, a comparison and a target with a unit; the unit must
fit the metric's kind (a latency takes ms/s, a rate takes %, a throughput takes /s), so that a
typo is caught when the plan is validated rather than after a 10-minute run.

An A/B run (a plan with ``targets:``) names one target's request metrics with a prefix,
``target["sst"].http.latency.p95 < 300ms``, and compares two targets with a metric on the right:
``target["sst"].http.latency.p95 < target["ecs"].http.latency.p95 * 1.05``.

Service metrics collected from CloudWatch use keyed namespaces named after the service type
(``lambda["orders"].cold_start.p99 < 2s``, ``rds["main"].connections.max < pool * 0.9``) and the
plain ``cost`` namespace (``cost.monthly_usd <= $950``). Their paths and kinds come from
``surge.vocabulary``. The right side may be a small arithmetic expression over values the
service declares (``pool``): it is parsed into a tiny AST, never evaluated as Python.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from surge import vocabulary
from surge.vocabulary import Kind

Op = Literal["<", "<=", ">", ">=", "==", "!="]

OPS: dict[str, Op] = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}

_PCT = re.compile(r"^p(\d{1,2})(?:[._](\d+))?$")
# The grammar's names for the vocabulary's metrics (surge.vocabulary holds them all, once).
_LATENCY_STATS = vocabulary.LATENCY_STATS
_SCALARS = vocabulary.REQUEST_SCALARS
_LATENCY_GROUPS = vocabulary.LATENCY_GROUPS
_KEYED_NAMESPACES = vocabulary.KEYED_REQUEST_NAMESPACES
_PLAIN_NAMESPACES = (vocabulary.REQUEST_NAMESPACE,)
_SERVICE_NAMESPACES = vocabulary.SERVICE_TYPES
_COST_NAMESPACE = vocabulary.COST_NAMESPACE
_RECOVERY_NAMESPACE = vocabulary.RECOVERY_NAMESPACE
TARGET_NAMESPACES = vocabulary.TARGET_NAMESPACES


@dataclass(frozen=True)
class MetricRef:
    namespace: str  # "http" | "endpoint" | "phase" | a service type ("lambda", "rds", ...) | "cost"
    key: str | None  # the selector of keyed namespaces: endpoint["GET /api/mocs"]
    path: tuple[str, ...]  # normalized, e.g. ("latency", "p95") or ("error_rate",)
    kind: Kind
    # The target of an A/B run whose requests the metric counts: target["sst"].http...; None: the
    # run's only target (or, for services and cost, no target at all).
    target: str | None = None

    @property
    def canonical(self) -> str:
        head = self.namespace if self.key is None else f"{self.namespace}[{_quoted(self.key)}]"
        name = ".".join((head, *self.path))
        return name if self.target is None else f"target[{_quoted(self.target)}].{name}"

    def untargeted(self) -> MetricRef:
        """The same metric of one target's own figures (what that target's report calls it)."""
        return replace(self, target=None)

    def on_target(self, target: str) -> MetricRef:
        return replace(self, target=target)

    @property
    def percentile(self) -> float | None:
        """The percentile a latency metric asks for (95.0 for p95), None for min/max/mean."""
        if len(self.path) == 2 and self.path[0] in _LATENCY_GROUPS:
            return stat_percentile(self.path[1])
        return None


def _quoted(key: str) -> str:
    # The grammar has no escapes: a key with a double quote is quoted with single ones.
    return f"'{key}'" if '"' in key else f'"{key}"'


class ThresholdError(ValueError):
    pass


_QUOTED = r"""(?:"[^"]*"|'[^']*')"""
_TARGET_PREFIX = re.compile(rf"""^\s*target\[\s*(?P<key>{_QUOTED})\s*\]\s*(?P<rest>.*)$""", re.DOTALL)


# -- right-hand side expressions: numbers, names, + - * /, parentheses ------------------------------


@dataclass(frozen=True)
class ExprNum:
    value: float


@dataclass(frozen=True)
class ExprName:
    name: str


@dataclass(frozen=True)
class ExprNeg:
    operand: TargetExpr


@dataclass(frozen=True)
class ExprBinOp:
    op: Literal["+", "-", "*", "/"]
    left: TargetExpr
    right: TargetExpr


@dataclass(frozen=True)
class ExprMetric:
    """Another target's metric on the right of an A/B comparison: known only when the run ends."""

    ref: MetricRef


TargetExpr = ExprNum | ExprName | ExprNeg | ExprBinOp | ExprMetric

_EXPR_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)"
    rf"|(?P<metric>target\[\s*{_QUOTED}\s*\]\s*\.\s*[A-Za-z_]\w*(?:\[\s*{_QUOTED}\s*\])?(?:\.\w+)*)"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<op>[-+*/()]))\s*"
)


def parse_target_expr(text: str) -> TargetExpr:
    """``pool * 0.9`` -> ExprBinOp("*", ExprName("pool"), ExprNum(0.9)). Raises ThresholdError."""
    tokens: list[tuple[str, str]] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if not m:
            raise ThresholdError(f"cannot read '{text[pos:].strip()}' in '{text}'")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    parser = _ExprParser(tokens, text)
    tree = parser.expr()
    if parser.i != len(tokens):
        raise ThresholdError(f"unexpected '{tokens[parser.i][1]}' in '{text}'")
    return tree


class _ExprParser:
    """Recursive descent: expr := term (+|- term)*; term := unary (*|/ unary)*; unary := -unary | atom."""

    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens, self.text, self.i = tokens, text, 0

    def _peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def expr(self) -> TargetExpr:
        node = self.term()
        while self._peek() in ("+", "-"):
            op = self.tokens[self.i][1]
            self.i += 1
            node = ExprBinOp("+" if op == "+" else "-", node, self.term())
        return node

    def term(self) -> TargetExpr:
        node = self.unary()
        while self._peek() in ("*", "/"):
            op = self.tokens[self.i][1]
            self.i += 1
            node = ExprBinOp("*" if op == "*" else "/", node, self.unary())
        return node

    def unary(self) -> TargetExpr:
        if self._peek() == "-":
            self.i += 1
            return ExprNeg(self.unary())
        return self.atom()

    def atom(self) -> TargetExpr:
        if self.i >= len(self.tokens):
            raise ThresholdError(f"'{self.text}' ends too early")
        kind, value = self.tokens[self.i]
        self.i += 1
        if kind == "num":
            return ExprNum(float(value))
        if kind == "name":
            return ExprName(value)
        if kind == "metric":
            return ExprMetric(parse_metric(value))
        if value == "(":
            node = self.expr()
            if self._peek() != ")":
                raise ThresholdError(f"a '(' is not closed in '{self.text}'")
            self.i += 1
            return node
        raise ThresholdError(f"unexpected '{value}' in '{self.text}'")


def target_expr_metrics(node: TargetExpr) -> tuple[MetricRef, ...]:
    """The metrics an A/B comparison's right side reads, in the order written."""
    if isinstance(node, ExprMetric):
        return (node.ref,)
    if isinstance(node, ExprNeg):
        return target_expr_metrics(node.operand)
    if isinstance(node, ExprBinOp):
        return target_expr_metrics(node.left) + target_expr_metrics(node.right)
    return ()


def target_expr_names(node: TargetExpr) -> frozenset[str]:
    """The declared values (``pool``) the right side names; metrics are not among them."""
    if isinstance(node, ExprName):
        return frozenset({node.name})
    if isinstance(node, ExprNeg):
        return target_expr_names(node.operand)
    if isinstance(node, ExprBinOp):
        return target_expr_names(node.left) | target_expr_names(node.right)
    return frozenset()


def eval_target_expr(node: TargetExpr, names: Mapping[str, float]) -> float:
    """The expression's value; raises ThresholdError for an unknown name or a division by zero."""
    if isinstance(node, ExprNum):
        return node.value
    if isinstance(node, ExprMetric):
        if node.ref.canonical not in names:
            raise ThresholdError(f"{node.ref.canonical} has no value here")
        return float(names[node.ref.canonical])
    if isinstance(node, ExprName):
        if node.name not in names:
            raise ThresholdError(f"'{node.name}' has no value here")
        return float(names[node.name])
    if isinstance(node, ExprNeg):
        return -eval_target_expr(node.operand, names)
    left, right = eval_target_expr(node.left, names), eval_target_expr(node.right, names)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if right == 0:
        raise ThresholdError("the target divides by zero")
    return left / right


@dataclass(frozen=True)
class Threshold:
    expr: str  # as the user wrote it
    metric: MetricRef
    op: Op
    target: float  # in the metric's kind: ms, fraction, per second, count, USD
    abort_on_fail: bool = False
    grace_s: float = 0.0
    # The right side when it names values the plan declares (``pool * 0.9``). Until bind() gives
    # those names their values the target is NaN, and compare() is False for NaN: never a pass.
    target_expr: TargetExpr | None = None

    @property
    def unit(self) -> Kind:
        return self.metric.kind

    @property
    def names(self) -> frozenset[str]:
        return frozenset() if self.target_expr is None else target_expr_names(self.target_expr)

    @property
    def operands(self) -> tuple[MetricRef, ...]:
        """The metrics on the right (an A/B comparison): bound with their measured values."""
        return () if self.target_expr is None else target_expr_metrics(self.target_expr)

    @property
    def is_bound(self) -> bool:
        return not math.isnan(self.target)

    def bind(self, names: Mapping[str, float]) -> Threshold:
        """This threshold with its target computed from the named values (self when it has none);
        an A/B comparison's metrics are named by their canonical path."""
        if self.target_expr is None:
            return self
        try:
            target = eval_target_expr(self.target_expr, names)
        except ThresholdError as exc:
            raise ThresholdError(f"'{self.expr}': {exc}") from None
        return replace(self, target=target)


def stat_percentile(stat: str) -> float | None:
    if stat in ("min", "max", "mean"):
        return None
    if stat == "p999":
        return 99.9
    m = _PCT.match(stat)
    if not m:
        return None
    whole, frac = m.group(1), m.group(2)
    return float(f"{whole}.{frac}") if frac else float(whole)


def _normalize_stat(stat: str) -> str:
    if stat == "avg":
        return "mean"
    if stat == "med":
        return "p50"
    if stat in ("p99.9", "p99_9"):
        return "p999"
    if stat in ("min", "max", "mean", "p999"):
        return stat
    m = _PCT.match(stat)
    if m and 0 < float(m.group(1)) < 100:
        return stat.replace("_", ".")
    raise ThresholdError(
        f"'{stat}' is not a latency statistic; use one of min, max, mean, p50, p90, p95, p99, p999 or pNN"
    )


_TOKEN = re.compile(
    r"""^\s*
    (?P<metric>[A-Za-z_][\w]*(?:\[\s*(?:"[^"]*"|'[^']*')\s*\])?(?:\.\w[\w.]*)?)
    \s*(?P<op><=|>=|==|!=|<|>)\s*
    (?P<value>.+?)\s*$""",
    re.VERBOSE,
)
_SELECTOR = re.compile(r"""^(?P<ns>[A-Za-z_]\w*)\[\s*(?:"(?P<k1>[^"]*)"|'(?P<k2>[^']*)')\s*\](?P<rest>.*)$""")
_VALUE = re.compile(r"^(?P<usd>\$)?\s*(?P<num>-?\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-zµ%/]+(?:/s)?)?$")


def parse_metric(text: str) -> MetricRef:
    text = text.strip()
    prefixed = _TARGET_PREFIX.match(text)
    if prefixed:
        target = prefixed.group("key")[1:-1]
        rest = prefixed.group("rest")
        if not target:
            raise ThresholdError(f"the target selector in '{text}' is empty; name one of the plan's targets")
        if not rest.startswith("."):
            raise ThresholdError(
                f"expected '.' after target[...] in '{text}', e.g. target[\"{target}\"].http.latency.p95"
            )
        inner = parse_metric(rest[1:])
        if inner.namespace not in TARGET_NAMESPACES or inner.target is not None:
            raise ThresholdError(
                f"'{text}': target[...] selects one target's request metrics ("
                + ", ".join(f"{n}." for n in TARGET_NAMESPACES)
                + "); services and cost are named on their own"
            )
        return inner.on_target(target)
    sel = _SELECTOR.match(text)
    if sel:
        namespace = sel.group("ns")
        key: str | None = sel.group("k1") if sel.group("k1") is not None else sel.group("k2")
        rest = sel.group("rest")
        if rest and not rest.startswith("."):
            raise ThresholdError(f"expected '.' after the selector in '{text}'")
        parts = [p for p in rest.split(".") if p] if rest else []
        # "p99.9" was split on its dot: glue it back.
        parts = _glue_decimal_percentiles(parts)
        if namespace == _RECOVERY_NAMESPACE:
            if parts != ["time"]:
                raise ThresholdError(
                    f"'{text}': a recovery has one metric, its time: recovery[\"{key}\"].time < 2m"
                )
            if not key:
                raise ThresholdError(
                    f"the selector in '{text}' is empty; name one of the plan's recovery entries"
                )
            return MetricRef(namespace, key, ("time",), "ms")
        if namespace not in _KEYED_NAMESPACES and namespace not in _SERVICE_NAMESPACES:
            raise ThresholdError(
                f"unknown metric namespace '{namespace}[...]'; known: "
                + ", ".join(
                    f"{n}[...]" for n in (*_KEYED_NAMESPACES, _RECOVERY_NAMESPACE, *_SERVICE_NAMESPACES)
                )
            )
        if not key:
            what = "a service" if namespace in _SERVICE_NAMESPACES else "an endpoint or phase"
            raise ThresholdError(f"the selector in '{text}' is empty; name {what}")
        if namespace in _SERVICE_NAMESPACES:
            return _service_metric(namespace, key, parts, text)
    else:
        raw = _glue_decimal_percentiles(text.split("."))
        namespace, parts, key = raw[0], raw[1:], None
        if namespace in _KEYED_NAMESPACES:
            raise ThresholdError(f'{namespace} metrics need a name: {namespace}["NAME"].p95')
        if namespace == _RECOVERY_NAMESPACE:
            raise ThresholdError(
                'recovery metrics need the recovery\'s name from the plan: recovery["NAME"].time'
            )
        if namespace in _SERVICE_NAMESPACES:
            raise ThresholdError(
                f'{namespace} metrics need the service\'s name from the plan: {namespace}["NAME"].{".".join(parts) or "..."}'
            )
        if namespace == _COST_NAMESPACE:
            return _cost_metric(parts, text)
        if namespace not in _PLAIN_NAMESPACES:
            raise ThresholdError(
                f'unknown metric \'{text}\'; metrics start with http., endpoint["NAME"]., phase["NAME"]., stage["NAME"]., recovery["NAME"]., target["NAME"]. (an A/B run), '
                'a service such as lambda["NAME"]. (declared under services:), or cost.'
            )
    return _request_metric(namespace, key, parts, text)


def _service_metric(namespace: str, key: str, parts: list[str], text: str) -> MetricRef:
    path = ".".join(parts)
    if namespace == "custom":
        if len(parts) != 1 or not vocabulary.CUSTOM_ID.match(parts[0]):
            raise ThresholdError(
                f"'{text}': name one of the custom service's query ids, e.g. {namespace}[\"{key}\"].my_query"
            )
        # The kind comes from the plan's declared unit (see surge.metrics.bind); until then the
        # threshold's own unit decides it (parse_threshold), a bare metric reads as a count.
        return MetricRef(namespace, key, (parts[0],), "count")
    kind = vocabulary.metric_kind(namespace, path)
    if not path or kind is None:
        known = ", ".join(vocabulary.known_metrics(namespace))
        raise ThresholdError(f"unknown metric '{text}'; {namespace} metrics are: {known}")
    return MetricRef(namespace, key, tuple(parts), kind)


def _cost_metric(parts: list[str], text: str) -> MetricRef:
    path = ".".join(parts)
    if path not in vocabulary.COST_METRICS:
        known = ", ".join(vocabulary.known_metrics(_COST_NAMESPACE))
        raise ThresholdError(f"unknown metric '{text}'; cost metrics are: {known}")
    return MetricRef(_COST_NAMESPACE, None, tuple(parts), vocabulary.COST_METRICS[path])


def _glue_decimal_percentiles(parts: list[str]) -> list[str]:
    out: list[str] = []
    for p in parts:
        if out and p.isdigit() and _PCT.match(out[-1]):
            out[-1] = f"{out[-1]}.{p}"
        else:
            out.append(p)
    return out


def _request_metric(namespace: str, key: str | None, parts: list[str], text: str) -> MetricRef:
    if not parts:
        raise ThresholdError(f"'{text}' names no metric; e.g. {text}.latency.p95 or {text}.error_rate")
    head = parts[0]
    if head in _LATENCY_GROUPS:
        if len(parts) != 2:
            raise ThresholdError(f"'{text}': say which statistic, e.g. {head}.p95")
        return MetricRef(namespace, key, (head, _normalize_stat(parts[1])), "ms")
    if len(parts) == 1 and (head in _LATENCY_STATS or _PCT.match(head)) and namespace != "http":
        # endpoint["x"].p99 is shorthand for endpoint["x"].latency.p99
        return MetricRef(namespace, key, ("latency", _normalize_stat(head)), "ms")
    if len(parts) == 1 and head in _SCALARS:
        name = "throughput" if head == "rps" else head
        return MetricRef(namespace, key, (name,), _SCALARS[head])
    known = ", ".join([*(f"{g}.pNN" for g in _LATENCY_GROUPS), *sorted(_SCALARS)])
    raise ThresholdError(f"unknown metric '{text}'; known after '{namespace}': {known}")


def _convert(value: float, unit: str | None, kind: Kind, text: str) -> float:
    u = (unit or "").lower()
    if kind == "ms":
        factors = {"": 1.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1000.0, "m": 60000.0, "min": 60000.0}
        if u in factors:
            return value * factors[u]
        raise ThresholdError(f"'{text}' compares a duration: use ms or s (e.g. 500ms)")
    if kind == "ratio":
        if u == "%":
            return value / 100.0
        if u == "":
            if value > 1:
                raise ThresholdError(f"'{text}': a rate is a fraction (0.01) or a percentage (1%)")
            return value
        raise ThresholdError(f"'{text}' compares a rate: use a percentage (1%) or a fraction (0.01)")
    if kind == "per_s":
        if u in ("", "/s", "rps", "req/s", "reqs/s"):
            return value
        raise ThresholdError(f"'{text}' compares a throughput: use a number per second (100/s)")
    if kind == "usd":
        if u in ("", "usd"):
            return value
        raise ThresholdError(f"'{text}' compares a cost: use dollars ($950)")
    if u == "":
        return value
    raise ThresholdError(f"'{text}' compares a count: use a plain number")


def parse_threshold(
    expr: str, *, abort_on_fail: bool = False, grace_s: float = 0.0, kind: Kind | None = None
) -> Threshold:
    """Parse ``METRIC OP VALUE``. ``kind`` gives a custom metric's kind when the plan declares it."""
    # An A/B run's target prefix (target["sst"].) is read apart: the metric after it has its own selector.
    prefixed = _TARGET_PREFIX.match(expr)
    prefix, body = "", expr
    if prefixed and prefixed.group("rest").startswith("."):
        prefix, body = f"target[{prefixed.group('key')}].", prefixed.group("rest")[1:]
    m = _TOKEN.match(body)
    if not m:
        raise ThresholdError(
            f"cannot read threshold '{expr}'; write METRIC OP VALUE, e.g. 'http.latency.p95 < 500ms'"
        )
    metric = parse_metric(prefix + m.group("metric"))
    value_text = m.group("value")
    v = _VALUE.match(value_text.replace(" ", ""))
    op = OPS[m.group("op")]
    if not v and re.search(r"\btarget\s*\[", value_text):
        return _comparison_threshold(expr, metric, op, value_text, abort_on_fail, grace_s)
    if not v:
        if metric.namespace in _SERVICE_NAMESPACES or metric.namespace == _COST_NAMESPACE:
            return _expression_threshold(expr, metric, op, value_text, abort_on_fail, grace_s)
        raise ThresholdError(f"'{value_text}' in '{expr}' is not a number with an optional unit")
    unit = "usd" if v.group("usd") else v.group("unit")
    if metric.namespace == "custom":
        metric = replace(metric, kind=kind or _kind_of_unit(unit))
    number = float(v.group("num"))
    if number < 0:
        # Latencies, rates, counts and costs are never negative: such a check could never pass.
        raise ThresholdError(f"'{expr}': the target cannot be negative")
    target = _convert(number, unit, metric.kind, expr)
    problem = _decided_in_advance(metric.kind, op, target)
    if problem is not None:
        raise ThresholdError(f"'{expr.strip()}': {problem}")
    return Threshold(expr.strip(), metric, op, target, abort_on_fail, grace_s)


def _decided_in_advance(kind: Kind, op: Op, target: float) -> str | None:
    """Why a check's outcome is known before the run (every metric is >= 0; a rate is <= 100%)."""
    top = 1.0 if kind == "ratio" else math.inf
    if (op == ">=" and target <= 0) or (op in ("<", "!=") and target > top) or (op == "<=" and target >= top):
        bound = "at least 0" if op in (">=",) else "at most 100%"
        return f"the metric is always {bound}, so this check cannot fail; pick a target it could miss"
    if (op == "<" and target <= 0) or (op == ">" and target >= top) or (op in (">=", "==") and target > top):
        bound = "never negative" if op == "<" else "at most 100%"
        return f"the metric is {bound}, so this check can never pass"
    return None


def _kind_of_unit(unit: str | None) -> Kind:
    """A custom metric's kind as the threshold's unit implies it (500ms: a duration)."""
    u = (unit or "").lower()
    if u in ("ms", "us", "µs", "s", "m", "min"):
        return "ms"
    if u == "%":
        return "ratio"
    if u in ("/s", "rps", "req/s", "reqs/s"):
        return "per_s"
    if u == "usd":
        return "usd"
    return "count"


def _expression_threshold(
    expr: str, metric: MetricRef, op: Op, value_text: str, abort_on_fail: bool, grace_s: float
) -> Threshold:
    try:
        tree = parse_target_expr(value_text)
    except ThresholdError as exc:
        raise ThresholdError(
            f"'{value_text}' in '{expr}' is not a number with an optional unit, nor an expression: {exc}"
        ) from None
    allowed = vocabulary.names_for(metric.namespace)
    for name in sorted(target_expr_names(tree)):
        if name not in allowed:
            offered = ", ".join(sorted(allowed)) or "none"
            raise ThresholdError(
                f"'{expr}': '{name}' is not a value {metric.namespace} services provide (they provide: {offered}); "
                "numbers in an expression carry no unit"
            )
        if allowed[name] != metric.kind:
            raise ThresholdError(
                f"'{expr}': '{name}' is a {allowed[name]} and cannot be compared with a {metric.kind} metric"
            )
    if not target_expr_names(tree):
        # Only numbers: the value is known now (``100 * 0.9``).
        return Threshold(expr.strip(), metric, op, eval_target_expr(tree, {}), abort_on_fail, grace_s)
    return Threshold(expr.strip(), metric, op, math.nan, abort_on_fail, grace_s, tree)


def _comparison_threshold(
    expr: str, metric: MetricRef, op: Op, value_text: str, abort_on_fail: bool, grace_s: float
) -> Threshold:
    """An A/B comparison: one target's metric against an expression of other targets' metrics of
    the same kind (``target["ecs"].http.latency.p95 * 1.05``); its target is known at the run's end."""
    try:
        tree = parse_target_expr(value_text)
    except ThresholdError as exc:
        raise ThresholdError(
            f"'{value_text}' in '{expr}' is not a comparison with another target: {exc}"
        ) from None
    if metric.target is None:
        raise ThresholdError(
            f"'{expr}': a comparison of targets names the target on the left too, "
            f'e.g. target["new"].{metric.canonical} < target["old"].{metric.canonical} * 1.05'
        )
    names = target_expr_names(tree)
    if names:
        raise ThresholdError(
            f"'{expr}': '{sorted(names)[0]}' is not a value here; the right side may hold numbers and "
            'other targets\' metrics (target["old"].http.latency.p95), numbers without a unit'
        )
    for ref in target_expr_metrics(tree):
        if ref.kind != metric.kind:
            raise ThresholdError(
                f"'{expr}': {ref.canonical} is a {ref.kind} and cannot be compared with a {metric.kind} metric"
            )
        if ref == metric:
            raise ThresholdError(f"'{expr}' compares {metric.canonical} with itself; name another target")
    return Threshold(expr.strip(), metric, op, math.nan, abort_on_fail, grace_s, tree)


def compare(measured: float, op: Op, target: float) -> bool:
    if op == "<":
        return measured < target
    if op == "<=":
        return measured <= target
    if op == ">":
        return measured > target
    if op == ">=":
        return measured >= target
    if op == "==":
        return measured == target
    return measured != target
