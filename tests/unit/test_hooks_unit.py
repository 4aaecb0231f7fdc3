"""What `surge validate` says about a plan's hooks, and how hook calls read in templates."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from surge.hooks import HookLoadError, call_after, call_before, load_hooks
from surge.template import HOOKS_KEY, HookCallError, TemplateError, compile_template
from tests.unit.test_plan import only_problem, with_flow


def test_template_calls_take_variables_numbers_and_quoted_text() -> None:
    t = compile_template("{{ f(a, 'x, y', 3, 2.5) }}")
    assert t.calls == {"f"} and t.variables == {"a"}
    hooks = {"f": lambda *args: "|".join(map(str, args))}
    assert t.render({"a": "A", HOOKS_KEY: hooks}, random.Random()) == "A|x, y|3|2.5"
    with pytest.raises(TemplateError, match="not a variable name, a number or a quoted text"):
        compile_template("{{ f(a b) }}")
    broken = compile_template("{{ f() }}")
    with pytest.raises(HookCallError, match=r"f\(\): ZeroDivisionError"):
        broken.render({HOOKS_KEY: {"f": lambda: 1 / 0}}, random.Random())


def test_the_hooks_file_must_import_and_have_every_function_named(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text("def sign(x):\n    return x\n\ndef _private():\n    pass\n")
    plan = with_flow(
        {"get": {"url": "/a?s={{ sign(a) }}", "before": "nope"}}, hooks="hooks.py", variables={"a": 1}
    )
    assert "request.before: no function 'nope' in hooks.py; it has: sign" in only_problem(
        plan, base_dir=tmp_path
    )
    (tmp_path / "bad.py").write_text("def broken(:\n")
    assert "hooks: cannot import" in only_problem(with_flow({"get": "/"}, hooks="bad.py"), base_dir=tmp_path)
    assert "(line 1): SyntaxError" in only_problem(with_flow({"get": "/"}, hooks="bad.py"), base_dir=tmp_path)
    assert "calls sign(), but the plan names no hooks file" in only_problem(
        with_flow({"get": "/a?s={{ sign(a) }}"}, variables={"a": 1})
    )


def test_load_hooks_reports_a_failing_import_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "h.py").write_text("raise RuntimeError('needs a token')\n")
    with pytest.raises(HookLoadError, match="RuntimeError: needs a token"):
        load_hooks(tmp_path / "h.py")
    with pytest.raises(HookLoadError, match="no such file"):
        load_hooks(tmp_path / "missing.py")


def test_before_and_after_hooks_see_and_change_the_exchange() -> None:
    def before(request: dict, variables: dict) -> None:  # type: ignore[type-arg]
        request["headers"]["X-A"] = "1"
        request["body"] = {"signed": True}

    url, headers, body = call_before(before, "POST", "http://h/x", {"H": "v"}, b"{}", {})
    assert headers == {"H": "v", "X-A": "1"} and body == b'{"signed": true}' and url == "http://h/x"
    seen = call_after(
        lambda r, v: {"status_seen": r["status"], "id": r["json"]["id"]}, 201, {}, b'{"id": 7}', {}
    )
    assert seen == {"status_seen": 201, "id": 7}
    with pytest.raises(Exception, match="returns a dict of variables or None"):
        call_after(lambda r, v: 3, 200, {}, b"", {})


def test_user_code_cannot_end_surge_with_sys_exit(tmp_path: Path) -> None:
    # At import: refused as an import that failed, naming the call (validate and run exit 2).
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(0)\n")
    with pytest.raises(HookLoadError, match=r"calls sys.exit\(0\) at import"):
        load_hooks(tmp_path / "quits.py")
    assert "sys.exit(0)" in only_problem(with_flow({"get": "/"}, hooks="quits.py"), base_dir=tmp_path)
    # While running: the call fails like any other error, on every path that calls it.
    (tmp_path / "hooks.py").write_text(
        "import sys\n\ndef stop(request, variables):\n    sys.exit(3)\n\ndef text():\n    raise SystemExit\n"
    )
    hooks = load_hooks(tmp_path / "hooks.py")
    with pytest.raises(Exception, match=r"stop called sys.exit\(3\); a hook cannot end the run"):
        call_before(hooks["stop"], "GET", "http://x/", {}, None, {})
    with pytest.raises(HookCallError, match="a hook cannot end the run"):
        compile_template("{{ text() }}").render({HOOKS_KEY: hooks}, random.Random())
