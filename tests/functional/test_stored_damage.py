"""Damage to any file a run stored: `surge report` and `surge compare` answer with the run's figures
or with exit 2 naming what is wrong, never a traceback, and the damaged run stays as it was found.

Two real runs (against the demo target, once for the module); every example damages one file of a
copy of the first: cut short, replaced by random bytes, a value somewhere inside swapped for one of
another type or removed, or the file deleted."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surge.cli import main
from surge.demo_target import DemoConfig, running_demo_target

pytestmark = pytest.mark.slow

# What `surge report` and `surge compare` read of a run folder.
READ_FILES = (".surge-run", "plan.yaml", "results.json", "report.json")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("stored")
    history = root / "history.sqlite"
    with running_demo_target(DemoConfig(latency_ms=1.0, seed=3)) as target:
        (root / "plan.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": "stored",
                    "target": target.url,
                    "workers": 1,
                    "load": {"phases": [{"name": "steady", "duration": "2s", "rate": 20}]},
                    "scenarios": [{"name": "s", "flow": [{"get": "/api/mocs"}]}],
                    "thresholds": ["http.latency.p95 < 1s"],
                    "baseline": "last-pass",
                    "regression": {"max_worse_pct": 5},
                }
            )
        )
        for name in ("a", "b"):
            code = main(
                ["run", str(root / "plan.yaml"), "--out", str(root / name), "--history", str(history)]
            )
            assert code in (0, 1)  # stored either way (a starved machine may fail a check)
            assert (root / name / "report.json").is_file()
    yield {
        "root": root,
        "history": history,
        "b_id": json.loads((root / "b" / "report.json").read_text())["run_id"],
    }


# -- damage -----------------------------------------------------------------------------------------

OTHER_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=3),
)


def _paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 0) -> list[tuple[Any, ...]]:
    """Every place inside a parsed document (to depth 6): dict keys and list indexes."""
    out: list[tuple[Any, ...]] = []
    if depth > 6:
        return out
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        out.append((*prefix, key))
        out += _paths(inner, (*prefix, key), depth + 1)
    return out


@st.composite
def reshaped(draw: st.DrawFn, document: Any) -> Any:
    paths = _paths(document)
    if not paths:
        return draw(OTHER_VALUES)
    where = draw(st.sampled_from(paths))
    parent = document
    for key in where[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = draw(OTHER_VALUES)
    return document


@st.composite
def damage(draw: st.DrawFn) -> tuple[str, str, Any]:
    """(file, kind, how): what one example does to one stored file."""
    name = draw(st.sampled_from(READ_FILES))
    kind = draw(st.sampled_from(["cut", "bytes", "reshape", "delete"]))
    if kind == "cut":
        return name, kind, draw(st.floats(0.0, 0.999))
    if kind == "bytes":
        return name, kind, draw(st.binary(max_size=64))
    return name, kind, None


def _apply(path: Path, kind: str, how: Any, data: st.DataObject) -> None:
    if kind == "delete":
        path.unlink()
    elif kind == "cut":
        raw = path.read_bytes()
        path.write_bytes(raw[: int(len(raw) * how)])
    elif kind == "bytes":
        path.write_bytes(how)
    else:
        text = path.read_text()
        if path.suffix == ".json":
            document = json.loads(text)
            path.write_text(json.dumps(data.draw(reshaped(document)), allow_nan=True))
        elif path.suffix == ".yaml":
            document = yaml.safe_load(text)
            path.write_text(yaml.safe_dump(data.draw(reshaped(document))))
        else:
            path.write_text(str(data.draw(OTHER_VALUES)))


def _said_well(code: int, err: str, run: Path) -> bool:
    """A damaged run's answer: its figures (0 or 1), or exit 2 with a message that names the run's
    folder or one of its files (the user's own plan is not what is wrong)."""
    if code in (0, 1):
        return True
    return code == 2 and err.startswith("surge: ") and str(run) in err


@settings(
    max_examples=int(os.environ.get("SURGE_DAMAGE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("SURGE_DAMAGE_EXAMPLES") is None,
)
@given(what=damage(), data=st.data())
def test_damage_to_any_stored_file_is_named_never_a_traceback(
    stored: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    what: tuple[str, str, Any],
    data: st.DataObject,
) -> None:
    name, kind, how = what
    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "run"
        shutil.copytree(stored["root"] / "a", run)
        _apply(run / name, kind, how, data)
        found = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
        capsys.readouterr()
        code = main(
            ["report", str(run), "--history", str(stored["history"]), "--out", str(Path(scratch) / "re")]
        )
        err = capsys.readouterr().err
        assert _said_well(code, err, run), (name, kind, code, err)
        # The damaged run is left as it was found: nothing rewritten, nothing removed.
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == found
        code = main(
            [
                "compare",
                stored["b_id"],
                str(run),
                "--history",
                str(stored["history"]),
                "--out",
                str(Path(scratch) / "c.html"),
            ]
        )
        err = capsys.readouterr().err
        assert _said_well(code, err, run), (name, kind, code, err)
