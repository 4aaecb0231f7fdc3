"""Request bodies and query mappings: what validate says, and the bytes they render to."""

from __future__ import annotations

import random
from pathlib import Path

from surge.engine.flow import compile_plan
from surge.plan_load import parse_plan
from tests.unit.test_plan import problems, with_flow


def test_one_body_per_request_and_files_that_exist() -> None:
    (p,) = problems(with_flow({"post": {"url": "/", "json": {}, "form": {"a": 1}}}))
    assert "a request takes one body: 'json', 'body', 'form' or 'multipart', not json and form" in p
    (p,) = problems(
        with_flow({"post": {"url": "/", "multipart": {"f": {"path": "nowhere.jpg"}}}}), base_dir=Path("/tmp")
    )
    assert "request.multipart.f: cannot read /tmp/nowhere.jpg" in p
    (p,) = problems(with_flow({"post": {"url": "/", "form": {"a": "{{ nope }}"}}}))
    assert "form: {{ nope }} is not defined" in p


def test_file_parts_in_s3_are_for_cloud_runs_and_local_ones_must_exist(tmp_path: Path) -> None:
    from surge.plan_checks import semantic_problems

    (tmp_path / "a.bin").write_bytes(b"x")
    local = parse_plan(
        with_flow({"post": {"url": "/", "multipart": {"f": {"path": "a.bin"}}}}), base_dir=tmp_path
    )
    assert semantic_problems(local, tmp_path, cloud=True) == []  # the CLI uploads it with the run
    (p,) = problems(
        with_flow({"post": {"url": "/", "multipart": {"f": {"path": "s3://b/plans/a.bin"}}}}),
        base_dir=tmp_path,
    )
    assert "multipart.f.path: s3://b/plans/a.bin is read by cloud runs only; use a local file" in p


def test_rendered_bytes(tmp_path: Path) -> None:
    (tmp_path / "img.png").write_bytes(b"PNG")
    plan = parse_plan(
        with_flow(
            {"get": {"url": "/s?x=1", "query": {"q": "a b", "t": ["1", "2"], "ok": False}}},
            {"post": {"url": "/f", "form": {"name": "Ana & Bo"}}},
            {
                "post": {
                    "url": "/m",
                    "multipart": {
                        "title": 'say "hi"',
                        "img": {"path": "img.png", "content_type": "image/png"},
                    },
                }
            },
        ),
        base_dir=tmp_path,
    )
    get, form, multipart = compile_plan(plan, base_dir=tmp_path).scenarios[0].steps
    rng = random.Random(0)
    assert get.render_url("http://h", {}, rng) == "http://h/s?x=1&q=a+b&t=1&t=2&ok=false"
    assert form.render_body({}, rng) == b"name=Ana+%26+Bo"
    assert form.headers["Content-Type"] == "application/x-www-form-urlencoded"
    body = multipart.render_body({}, rng)
    boundary = multipart.headers["Content-Type"].split("boundary=")[1]
    assert (
        body
        == (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nsay "hi"\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="img"; filename="img.png"\r\n'
            f"Content-Type: image/png\r\n\r\nPNG\r\n--{boundary}--\r\n"
        ).encode()
    )


def test_a_stored_plan_names_its_files_absolutely_so_surge_report_can_revalidate_it(tmp_path: Path) -> None:
    from surge.cli.run import portable
    from surge.plan_checks import semantic_problems
    from surge.plan_steps import FilePart

    (tmp_path / "img.png").write_bytes(b"PNG")
    plan = parse_plan(
        with_flow({"post": {"url": "/m", "multipart": {"img": {"path": "img.png"}}}}), base_dir=tmp_path
    )
    stored = portable(plan, tmp_path)
    part = stored.scenarios[0].flow[0].request.multipart["img"]  # type: ignore[union-attr,index]
    assert isinstance(part, FilePart) and part.path == str(tmp_path / "img.png")
    assert semantic_problems(stored, Path("/elsewhere")) == []  # a run folder anywhere
    assert portable(stored, tmp_path) is stored  # nothing left to change


def test_a_stored_plan_names_files_of_setup_steps_absolutely_too(tmp_path: Path) -> None:
    from surge.cli.run import portable
    from surge.plan import file_parts

    (tmp_path / "seed.bin").write_bytes(b"x")
    data = with_flow({"get": "/"})
    data["setup"] = [{"post": {"url": "/seed", "multipart": {"f": {"path": "seed.bin"}}}}]
    stored = portable(parse_plan(data, base_dir=tmp_path), tmp_path)
    assert [part.path for _, part in file_parts(stored)] == [str(tmp_path / "seed.bin")]
