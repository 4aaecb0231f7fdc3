"""Arguments a user can get wrong are refused by argparse (exit 2, naming the argument) or by the
command with one clear message (exit 2), never a traceback or a value that makes a gate meaningless."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge.cli import build_parser, main


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["demo-target", "--port", "70000"], "--port: 70000 is not a port"),
        (["demo-target", "--error-rate", "5"], "--error-rate: '5' is not a share"),
        (["run", "p.yaml", "--debug", "-1"], "--debug: must be 0 or more"),
        (["run", "p.yaml", "--metrics-delay", "nan"], "--metrics-delay: 'nan' must be a finite number"),
        (["run", "p.yaml", "--workers", "0"], "--workers: must be at least 1"),
        (["compare", "a", "b", "--fail-if-worse", "nan"], "--fail-if-worse: 'nan' must be a finite number"),
        (["compare", "a", "b", "--fail-if-worse", "inf"], "--fail-if-worse: 'inf' must be a finite number"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert said in capsys.readouterr().err


def test_a_share_reads_as_plans_write_it() -> None:
    args = build_parser().parse_args(["demo-target", "--error-rate", "2%"])
    assert args.error_rate == pytest.approx(0.02)


@pytest.mark.parametrize("argv", [["init", "/proc/nope/x.yaml"], ["schema", "--output", "/proc/nope/x.json"]])
def test_a_file_that_cannot_be_written_is_said_not_a_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "cannot write /proc/nope/x" in capsys.readouterr().err


def test_a_target_port_out_of_range_is_refused_with_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(
        "name: p\ntarget: http://127.0.0.1:8080\nload: {phases: [{duration: 1s, rate: 1}]}\n"
        "scenarios: [{name: s, flow: [{get: /}]}]\n"
    )
    assert main(["run", str(plan), "--target", "http://127.0.0.1:70000"]) == 2
    assert "has no valid port" in capsys.readouterr().err
    assert main(["validate", str(plan)]) == 0


def test_every_argument_has_help_and_output_is_spelled_alike(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {action.dest}"
        for name, command in sub.choices.items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert not missing, missing
    # --out (and -o) name the output everywhere one is written.
    for argv in (["run", "p.yaml", "-o", "x"], ["compare", "a", "b", "-o", "x"]):
        assert build_parser().parse_args(argv).out == "x"
    for argv in (["import", "k6", "s.js", "--out", "x"], ["schema", "--out", "x"], ["schema", "-o", "x"]):
        assert build_parser().parse_args(argv).output == "x"


def test_every_argument_of_every_command_has_help_text() -> None:
    import argparse

    from surge.cli.parser import build_parser

    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif action.help is None and not isinstance(action, argparse._HelpAction):
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "surge")
    assert missing == []
