"""``{{ var }}`` templating (surge/template.py): literals, variables, built-ins, structures, errors."""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from surge.template import (
    Template,
    TemplateError,
    compile_structure,
    compile_template,
    render_structure,
    structure_variables,
)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def render(source: str, variables: Mapping[str, object] | None = None, seed: int = 1) -> str:
    return compile_template(source, environ={}).render(variables or {}, random.Random(seed))


def value(source: str, variables: Mapping[str, object] | None = None, seed: int = 1) -> object:
    return compile_template(source, environ={}).render_value(variables or {}, random.Random(seed))


def samples(source: str, n: int = 300, seed: int = 7) -> list[object]:
    t = compile_template(source, environ={})
    rng = random.Random(seed)
    return [t.render_value({}, rng) for _ in range(n)]


# -- literals and variables ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["plain", "", "/api/mocs?x=1", "{ single }", "a}b{c"])
def test_literals_render_as_themselves(source: str) -> None:
    t = compile_template(source, environ={})
    assert t.is_static
    assert t.variables == frozenset()
    assert t.render({}, random.Random(0)) == source


def test_variables() -> None:
    t = compile_template("/users/{{ id }}/orders/{{order}}?q={{  q  }}", environ={})
    assert not t.is_static
    assert t.variables == frozenset({"id", "order", "q"})
    assert t.render({"id": 7, "order": "o-1", "q": "x y"}, random.Random(0)) == "/users/7/orders/o-1?q=x y"


def test_adjacent_placeholders() -> None:
    assert render("{{a}}{{b}}-{{a}}", {"a": 1, "b": "z"}) == "1z-1"


def test_render_value_keeps_type_of_single_placeholder() -> None:
    assert value("{{ n }}", {"n": 42}) == 42
    assert value("{{ obj }}", {"obj": {"k": [1]}}) == {"k": [1]}
    assert value("n={{ n }}", {"n": 42}) == "n=42"
    assert value("{{ n }}{{ n }}", {"n": 4}) == "44"


def test_missing_variable_raises_at_render() -> None:
    t = compile_template("/x/{{ id }}", environ={})
    with pytest.raises(TemplateError, match="variable 'id' has no value"):
        t.render({}, random.Random(0))
    with pytest.raises(TemplateError, match="variable 'id' has no value"):
        compile_template("{{ id }}", environ={}).render_value({"other": 1}, random.Random(0))


# -- built-ins ---------------------------------------------------------------------------------------


def test_uuid_is_version_4_and_varies() -> None:
    got = samples("{{ $uuid }}", n=50)
    assert all(isinstance(u, str) and UUID4.match(u) for u in got)
    assert all(uuid.UUID(str(u)).version == 4 for u in got)
    assert len(set(got)) == 50


def test_timestamp_is_epoch_milliseconds() -> None:
    before = int(time.time() * 1000)
    ts = value("{{ $timestamp }}")
    after = int(time.time() * 1000)
    assert isinstance(ts, int)
    assert before <= ts <= after
    assert render("t={{ $timestamp }}").removeprefix("t=").isdigit()


def test_isotime_is_utc_iso8601_with_milliseconds() -> None:
    before = datetime.now(UTC)
    text = value("{{ $isotime }}")
    assert isinstance(text, str)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", text)
    parsed = datetime.fromisoformat(text)
    assert abs((parsed - before).total_seconds()) < 5


def test_randint_bounds_and_type() -> None:
    got = samples("{{ $randint(1, 6) }}", n=600)
    assert all(type(v) is int for v in got)
    assert set(got) == {1, 2, 3, 4, 5, 6}  # inclusive bounds, all reached
    assert set(samples("{{ $randint(-3,-1) }}")) == {-3, -2, -1}
    assert samples("{{ $randint(5, 5) }}", n=5) == [5] * 5
    embedded = render("n={{ $randint(10, 10) }}")
    assert embedded == "n=10"


def test_randstr_length_and_alphabet() -> None:
    got = samples("{{ $randstr(12) }}", n=100)
    assert all(isinstance(s, str) and re.fullmatch(r"[A-Za-z0-9]{12}", s) for s in got)
    assert len(set(got)) == 100
    assert value("{{ $randstr(0) }}") == ""


def test_randstr_lengths_can_vary_within_a_range() -> None:
    # Payloads of 300-600 characters, as ingestion stories ask: both ways of writing it.
    for template in ("{{ $randstr(300, 600) }}", "{{ $randstr($randint(300,600)) }}"):
        lengths = [len(str(s)) for s in samples(template, n=300)]
        assert min(lengths) >= 300 and max(lengths) <= 600 and len(set(lengths)) > 50, template
    for bad in ("{{ $randstr(9, 2) }}", "{{ $randstr(1, 2, 3) }}", "{{ $randstr(1, 2000000) }}"):
        with pytest.raises(TemplateError):
            render(bad)


def test_choice_picks_among_values() -> None:
    got = samples("{{ $choice(red, green, blue) }}", n=300)
    assert set(got) == {"red", "green", "blue"}
    assert samples("{{ $choice(1, 2) }}", n=20)[0] in ("1", "2")  # choices are strings


def test_iteration_and_worker_come_from_variables() -> None:
    variables = {"$iteration": 17, "$worker": 3}
    assert value("{{ $iteration }}", variables) == 17
    assert value("{{ $worker }}", variables) == 3
    assert render("/i/{{ $iteration }}/w/{{ $worker }}", variables) == "/i/17/w/3"
    assert value("{{ $iteration }}", {}) == 0
    # Built-ins are not user variables: a plan never needs to define them.
    assert compile_template("{{ $iteration }}{{ $worker }}", environ={}).variables == frozenset()


def test_env_resolved_at_compile_time() -> None:
    env = {"API_KEY": "s3cret"}
    t = compile_template("Bearer {{ $env.API_KEY }}", environ=env)
    env["API_KEY"] = "changed"
    assert t.is_static
    assert t.render({}, random.Random(0)) == "Bearer s3cret"
    assert compile_structure("{{ $env.API_KEY }}", {"API_KEY": "k"}) == "k"


def test_env_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURGE_TEMPLATE_TEST", "from-os")
    assert compile_template("{{ $env.SURGE_TEMPLATE_TEST }}").render({}, random.Random(0)) == "from-os"


def test_missing_env_fails_at_compile_time() -> None:
    with pytest.raises(
        TemplateError, match=r"environment variable NOPE is not set \(referenced as \{\{ \$env.NOPE \}\}\)"
    ):
        compile_template("{{ $env.NOPE }}", environ={})


# -- reproducibility ---------------------------------------------------------------------------------


SEEDED = "{{ $uuid }}/{{ $randint(1, 1000000) }}/{{ $randstr(16) }}/{{ $choice(a, b, c, d) }}"


def test_seeded_rng_reproducible() -> None:
    assert samples(SEEDED, n=20, seed=42) == samples(SEEDED, n=20, seed=42)
    assert samples(SEEDED, n=20, seed=42) != samples(SEEDED, n=20, seed=43)


# -- compile errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{{ $nope }}", "unknown built-in $nope"),
        ("{{ $env }}", "use $env.NAME"),
        ("{{ $randint(5, 1) }}", "needs lo <= hi"),
        ("{{ $randint(a, b) }}", "$randint takes two integers"),
        ("{{ $randint(1) }}", "$randint takes two integers"),
        ("{{ $randint(1, 2, 3) }}", "$randint takes two integers"),
        ("{{ $randstr() }}", "$randstr takes a length"),
        ("{{ $randstr(x) }}", "$randstr takes a length"),
        ("{{ $choice() }}", "$choice takes one or more values"),
        ("{{ $choice(a,,b) }}", "$choice takes one or more values"),
        ("{{ a b }}", "neither a variable name, a $built-in nor a hook call"),
        ("{{ 1x }}", "neither a variable name, a $built-in nor a hook call"),
        ("{{ a.b }}", "neither a variable name, a $built-in nor a hook call"),
        ("{{ }}", "neither a variable name, a $built-in nor a hook call"),
        ("{{ $uuid( }}", "is not a known built-in"),
    ],
)
def test_compile_errors(source: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template(source, environ={})
    assert fragment in str(info.value)


def test_randstr_negative_length_refused() -> None:
    with pytest.raises(TemplateError):
        compile_template("{{ $randstr(-1) }}", environ={})


# -- structures ----------------------------------------------------------------------------------------


BODY = {
    "type": "order.created",
    "order_id": "{{ $uuid }}",
    "amount": "{{ $randint(1, 500) }}",
    "customer": {"id": "{{ customer }}", "tags": ["vip", "{{ tag }}", 3, None, True]},
    "note": "for {{ customer }} at {{ $timestamp }}",
    "count": 2,
}


def test_compile_structure_keeps_static_values_and_compiles_templates() -> None:
    compiled = compile_structure(BODY, environ={})
    assert isinstance(compiled, dict)
    assert compiled["type"] == "order.created"  # static strings stay plain strings
    assert compiled["count"] == 2
    assert isinstance(compiled["order_id"], Template)
    assert isinstance(compiled["customer"]["tags"][1], Template)
    assert compiled["customer"]["tags"][0] == "vip"
    assert compiled["customer"]["tags"][2:] == [3, None, True]


def test_structure_variables_nested() -> None:
    compiled = compile_structure(BODY, environ={})
    assert structure_variables(compiled) == frozenset({"customer", "tag"})
    assert structure_variables(compile_structure({"a": [], "b": {}, "c": 1}, environ={})) == frozenset()
    assert structure_variables(compile_structure(["{{ x }}", ["{{ y }}"]], environ={})) == frozenset(
        {"x", "y"}
    )


def test_render_structure_nested() -> None:
    compiled = compile_structure(BODY, environ={})
    out = render_structure(compiled, {"customer": "c-9", "tag": "new"}, random.Random(3))
    assert isinstance(out, dict)
    assert out["type"] == "order.created"
    assert UUID4.match(out["order_id"])
    assert type(out["amount"]) is int and 1 <= out["amount"] <= 500
    assert out["customer"] == {"id": "c-9", "tags": ["vip", "new", 3, None, True]}
    assert re.fullmatch(r"for c-9 at \d{13}", out["note"])
    assert out["count"] == 2
    # The compiled structure is reusable and not modified by rendering.
    again = render_structure(compiled, {"customer": "c-10", "tag": "old"}, random.Random(3))
    assert isinstance(again, dict)
    assert again["customer"]["id"] == "c-10"
    assert again["order_id"] == out["order_id"]  # same seed, same uuid


def test_render_structure_missing_variable() -> None:
    compiled = compile_structure({"a": ["{{ missing }}"]}, environ={})
    with pytest.raises(TemplateError, match="'missing'"):
        render_structure(compiled, {}, random.Random(0))


def test_compile_structure_errors_propagate() -> None:
    with pytest.raises(TemplateError, match="unknown built-in"):
        compile_structure({"a": [{"b": "{{ $bogus }}"}]}, environ={})
