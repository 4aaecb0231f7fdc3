"""A plan's files in cloud runs: its CSV data file (``data.file``), baseline file
(``baseline.file``) and the files of its multipart bodies (``multipart: {f: {path: ...}}``).

How they travel (docs/workflow.md, "Data and baseline files"):

- the CLI uploads a plan's local files to ``runs/<run>/inputs/<kind>/<name>`` and sends the plan
  naming them by s3:// URI (:func:`upload_local_files`);
- Prepare resolves every file the plan names (an s3:// URI, or a path relative to the plan's S3
  location), checks it exactly as a local run checks a file (the same CSV and baseline checks), and
  copies it under the run's prefix when it lives elsewhere (``plans/``), so the plan it stores names
  only the run's own copies (:func:`stage_files`);
- each worker downloads the CSV and the multipart files once per invocation, streamed to files
  (:func:`fetch_data_file`, :func:`fetch_file_parts`);
- Report reads the baseline figures (:func:`baseline_reader`).

S3 clients are injected. The pure parts (keys, URI resolution) are in :mod:`surge.cloud.layout`.
"""

from __future__ import annotations

import functools
import io
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surge.baseline import (
    Baseline,
    BaselineError,
    RemoteBaselineReader,
    baseline_from_file,
    load_baseline_file,
)
from surge.cloud import layout
from surge.cloud.layout import InputKind
from surge.data_file import MAX_DATA_BYTES, check_data_csv
from surge.errors import PlanError, UserError
from surge.plan import BaselineFile, Plan, file_parts, is_s3_uri

# A baseline file holds a few figures; reading one is capped so a wrong object cannot fill memory.
MAX_BASELINE_BYTES = 1 << 20
_CHUNK = 1 << 20


# -- the plan's file fields (pure) --------------------------------------------------------------------


def file_refs(plan: Plan) -> dict[InputKind, str]:
    """The files the plan names, by kind, as written."""
    refs: dict[InputKind, str] = {}
    if plan.data is not None:
        refs["data"] = plan.data.file
    if isinstance(plan.baseline, BaselineFile):
        refs["baseline"] = plan.baseline.file
    return refs


def with_file_refs(plan: Plan, refs: Mapping[InputKind, str]) -> Plan:
    """The plan with those file fields replaced (the others as they were)."""
    update: dict[str, object] = {}
    if "data" in refs and plan.data is not None:
        update["data"] = plan.data.model_copy(update={"file": refs["data"]})
    if "baseline" in refs and isinstance(plan.baseline, BaselineFile):
        update["baseline"] = plan.baseline.model_copy(update={"file": refs["baseline"]})
    return plan.model_copy(update=update) if update else plan


def with_file_part_paths(plan: Plan, paths: Mapping[str, str]) -> Plan:
    """The plan with the multipart files at those field paths (surge.plan.file_parts) renamed."""
    if not paths:
        return plan
    copy = plan.model_copy(deep=True)
    for where, part in file_parts(copy):
        if where in paths:
            part.path = paths[where]
    return copy


HOOKS_PREFIX = "hooks-"  # the hooks file's copy: runs/<run>/inputs/files/hooks-<name>.py


def _hooks_name(key: str) -> str:
    return f"{HOOKS_PREFIX}{layout.object_name(key)}"


def _part_name(index: int, ref: str) -> str:
    # The plan's order makes two files of one name distinct: runs/<run>/inputs/files/0-photo.jpg.
    return f"{index}-{layout.object_name(ref.replace(chr(92), '/'))}"


# -- the CLI: local files go up with the plan ---------------------------------------------------------


def upload_local_files(plan: Plan, base_dir: Path, *, s3: Any, bucket: str, run_id: str) -> Plan:
    """Upload the plan's local data and baseline files under the run's prefix; the plan to send
    names them by s3:// URI. Files already named by s3:// URIs are left to Prepare.

    A file that cannot be read, or a baseline file the local run would refuse, is a UserError
    (exit 2) before anything is uploaded for it. AWS errors are the caller's to translate.
    """
    refs: dict[InputKind, str] = {}
    for kind, ref in file_refs(plan).items():
        if is_s3_uri(ref):
            continue
        path = Path(ref) if Path(ref).is_absolute() else base_dir / ref
        if kind == "baseline" and isinstance(plan.baseline, BaselineFile):
            load_baseline_file(
                path, "", plan.baseline
            )  # the local run's check, so both refuse the same files
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise UserError(f"{kind}.file: cannot read {path}: {exc.strerror or exc}") from None
        key = layout.input_key(run_id, kind, path.name)
        with fh:  # streamed from the file: a large CSV is not held in memory
            s3.put_object(Bucket=bucket, Key=key, Body=fh, ContentType=_content_type(kind))
        refs[kind] = layout.s3_uri(bucket, key)
    parts: dict[str, str] = {}
    for index, (where, part) in enumerate(file_parts(plan)):
        if is_s3_uri(part.path):
            continue
        path = Path(part.path) if Path(part.path).is_absolute() else base_dir / part.path
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise UserError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
        key = layout.input_key(run_id, "files", _part_name(index, part.path))
        with fh:
            s3.put_object(Bucket=bucket, Key=key, Body=fh, ContentType=part.content_type)
        # The name the target receives stays the file's own, whatever the copy is called.
        parts[where] = layout.s3_uri(bucket, key)
    renamed = _keep_filenames(with_file_part_paths(with_file_refs(plan, refs), parts), plan)
    if plan.hooks is not None and not is_s3_uri(plan.hooks):
        path = Path(plan.hooks) if Path(plan.hooks).is_absolute() else base_dir / plan.hooks
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise UserError(f"hooks: cannot read {path}: {exc.strerror or exc}") from None
        key = layout.input_key(run_id, "files", f"{HOOKS_PREFIX}{path.name}")
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/x-python")
        renamed = renamed.model_copy(update={"hooks": layout.s3_uri(bucket, key)})
    return renamed


def _keep_filenames(plan: Plan, original: Plan) -> Plan:
    """File parts keep the name they had on the user's disk (the copy's key is numbered)."""
    names = {where: part.filename or Path(part.path).name for where, part in file_parts(original)}
    for where, part in file_parts(plan):
        if part.filename is None and where in names:
            part.filename = names[where]
    return plan


def _content_type(kind: InputKind) -> str:
    return {"data": "text/csv", "baseline": "application/json"}.get(kind, "application/octet-stream")


# -- Prepare: resolve, check, copy under the run ------------------------------------------------------


@dataclass(frozen=True)
class StagedFiles:
    plan: Plan
    """The plan naming the run's own copies (``runs/<run>/inputs/...``) by s3:// URI."""
    data_columns: list[str] | None
    """The data file's columns (None: the plan has no data file)."""


def stage_files(plan: Plan, *, plan_uri: str | None, s3: Any, bucket: str, run_id: str) -> StagedFiles:
    """Resolve, check and copy the plan's files for a cloud run. Raises PlanError listing each file
    that is missing, unreadable or invalid, naming its field and URI."""
    problems: list[str] = []
    refs: dict[InputKind, str] = {}
    columns: list[str] | None = None
    for kind, ref in file_refs(plan).items():
        field = f"{kind}.file"
        try:
            uri = layout.resolve_file_uri(ref, plan_uri)
        except ValueError as exc:
            problems.append(f"{field}: {exc}")
            continue
        src_bucket, src_key = layout.parse_s3_uri(uri)
        dest_key = layout.input_key(run_id, kind, layout.object_name(src_key))
        try:
            if kind == "data":
                columns, etag = _check_data(s3, src_bucket, src_key, uri)
                if (src_bucket, src_key) != (bucket, dest_key):
                    _copy(s3, src_bucket, src_key, etag, bucket, dest_key)
            elif isinstance(plan.baseline, BaselineFile):
                body = _read_capped(s3, src_bucket, src_key, uri)
                baseline_from_file(
                    body, plan.baseline, where=uri, spec="", ref=uri, name=layout.object_name(src_key)
                )
                if (src_bucket, src_key) != (bucket, dest_key):
                    # The bytes just checked, not a second read: the run compares with what passed.
                    s3.put_object(Bucket=bucket, Key=dest_key, Body=body, ContentType=_content_type(kind))
        except _Unreadable as exc:
            problems.append(f"{field}: cannot read {uri}: {exc.reason}{_hint(exc, src_bucket, bucket)}")
            continue
        except BaselineError as exc:
            problems.append(f"{field}: {_flat(exc)}")
            continue
        except ValueError as exc:
            problems.append(f"{field}: {exc}")
            continue
        refs[kind] = layout.s3_uri(bucket, dest_key)
    parts: dict[str, str] = {}
    for index, (where, part) in enumerate(file_parts(plan)):
        staged_part = _stage_file(
            s3,
            part.path,
            f"{where}.path",
            plan_uri,
            bucket,
            run_id,
            functools.partial(_part_name, index),
            problems,
        )
        if staged_part is not None:
            parts[where] = staged_part
    hooks_uri = None
    if plan.hooks is not None:
        hooks_uri = _stage_file(s3, plan.hooks, "hooks", plan_uri, bucket, run_id, _hooks_name, problems)
    if problems:
        raise PlanError("the plan is invalid:", problems)
    staged = _keep_filenames(with_file_part_paths(with_file_refs(plan, refs), parts), plan)
    if hooks_uri is not None:
        staged = staged.model_copy(update={"hooks": hooks_uri})
    return StagedFiles(staged, columns)


def _stage_file(
    s3: Any,
    ref: str,
    field: str,
    plan_uri: str | None,
    bucket: str,
    run_id: str,
    name: Callable[[str], str],
    problems: list[str],
) -> str | None:
    """A file read as it is (a multipart file, the hooks file): resolved, its size checked, copied
    under the run as ``runs/<run>/inputs/files/<name(key)>`` unless the CLI put it there; the copy's
    URI, or None with the problem added."""
    try:
        uri = layout.resolve_file_uri(ref, plan_uri)
    except ValueError as exc:
        problems.append(f"{field}: {exc}")
        return None
    src_bucket, src_key = layout.parse_s3_uri(uri)
    dest_key = layout.input_key(run_id, "files", name(src_key))
    if src_key.startswith(layout.input_key(run_id, "files", "")):
        dest_key = src_key  # uploaded by the CLI with the run: already the run's copy
    try:
        etag = _check_size(s3, src_bucket, src_key, uri)
        if (src_bucket, src_key) != (bucket, dest_key):
            _copy(s3, src_bucket, src_key, etag, bucket, dest_key)
    except _Unreadable as exc:
        problems.append(f"{field}: cannot read {uri}: {exc.reason}{_hint(exc, src_bucket, bucket)}")
        return None
    except ValueError as exc:
        problems.append(f"{field}: {exc}")
        return None
    return layout.s3_uri(bucket, dest_key)


def _check_size(s3: Any, bucket: str, key: str, uri: str) -> str | None:
    """A multipart file exists and every worker may hold it: its ETag (the version checked)."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        code = _error_code(exc)
        if not code:
            raise  # not an answer from S3: an error of the run, not the plan
        raise _Unreadable(_REASONS.get(code, code), code) from None
    size = head.get("ContentLength")
    if isinstance(size, int) and size > MAX_DATA_BYTES:
        raise ValueError(f"{uri} is {size:,} bytes; a file part may be at most {MAX_DATA_BYTES:,}")
    etag = head.get("ETag")
    return str(etag) if etag else None


def _check_data(s3: Any, bucket: str, key: str, uri: str) -> tuple[list[str], str | None]:
    """The CSV's columns, checked while streaming it (a line at a time), and the ETag it was read at."""
    obj = _get(s3, bucket, key)
    body = obj["Body"]
    size = obj.get("ContentLength")
    if isinstance(size, int) and size > MAX_DATA_BYTES:
        body.close()
        raise ValueError(
            f"{uri} is {size:,} bytes; a data file may be at most {MAX_DATA_BYTES:,} "
            "(every worker holds its rows in memory): use a sample of the rows"
        )
    try:
        text = io.TextIOWrapper(io.BufferedReader(_RawBody(body), _CHUNK), encoding="utf-8-sig", newline="")
        return check_data_csv(text, uri), obj.get("ETag")
    finally:
        body.close()


def _copy(s3: Any, src_bucket: str, src_key: str, etag: str | None, bucket: str, key: str) -> None:
    source = {"Bucket": src_bucket, "Key": src_key}
    extra = {"CopySourceIfMatch": etag} if etag else {}
    try:
        # Server-side, and only the version that was checked. No tags copied: the role may not read them.
        s3.copy_object(Bucket=bucket, Key=key, CopySource=source, TaggingDirective="REPLACE", **extra)
    except Exception as exc:
        if _error_code(exc) in ("PreconditionFailed", "412"):
            raise _Unreadable("it changed while it was being checked; start the run again", "") from None
        raise


def _read_capped(s3: Any, bucket: str, key: str, uri: str) -> bytes:
    body = _get(s3, bucket, key)["Body"]
    try:
        data: bytes = body.read(MAX_BASELINE_BYTES + 1)
    finally:
        body.close()
    if len(data) > MAX_BASELINE_BYTES:
        raise ValueError(
            f"{uri} is larger than {MAX_BASELINE_BYTES // 1024} KiB; a baseline file is a JSON object of "
            "figures by metric path"
        )
    return data


def _flat(exc: BaselineError) -> str:
    return exc.message if not exc.problems else f"{exc.message} {'; '.join(exc.problems)}"


# -- Worker: the CSV next to the engine ---------------------------------------------------------------


def fetch_data_file(plan: Plan, *, s3: Any, dest_dir: Path) -> Plan:
    """The plan with its s3:// data file downloaded into ``dest_dir`` and named by that path, so the
    engine reads rows exactly as in a local run. Streamed to the file: memory stays flat whatever
    the file's size. A plan without an s3:// data file is returned as it is."""
    if plan.data is None or not is_s3_uri(plan.data.file):
        return plan
    key = layout.parse_s3_uri(plan.data.file)[1]
    path = _download(s3, plan.data.file, dest_dir / layout.object_name(key))
    return with_file_refs(plan, {"data": str(path)})


def _download(s3: Any, uri: str, path: Path) -> Path:
    """An object streamed to ``path``: memory stays flat whatever its size."""
    bucket, key = layout.parse_s3_uri(uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        with path.open("wb") as fh:
            shutil.copyfileobj(body, fh, _CHUNK)
    finally:
        body.close()
    return path


def fetch_hooks(plan: Plan, *, s3: Any, dest_dir: Path) -> Plan:
    """The plan with its s3:// hooks file downloaded into ``dest_dir`` (the worker imports it)."""
    if plan.hooks is None or not is_s3_uri(plan.hooks):
        return plan
    name = layout.object_name(layout.parse_s3_uri(plan.hooks)[1]).removeprefix(HOOKS_PREFIX)
    path = _download(s3, plan.hooks, dest_dir / name)
    return plan.model_copy(update={"hooks": str(path)})


def fetch_file_parts(plan: Plan, *, s3: Any, dest_dir: Path) -> Plan:
    """The plan with its s3:// multipart files downloaded into ``dest_dir`` and named by those
    paths: the engine reads each once, as in a local run."""
    paths: dict[str, str] = {}
    for index, (where, part) in enumerate(file_parts(plan)):
        if not is_s3_uri(part.path):
            continue
        key = layout.parse_s3_uri(part.path)[1]
        paths[where] = str(_download(s3, part.path, dest_dir / f"part-{index}-{layout.object_name(key)}"))
    return with_file_part_paths(plan, paths)


# -- Report: the baseline figures ---------------------------------------------------------------------


def baseline_reader(s3: Any) -> RemoteBaselineReader:
    """Reads a baseline file named by an s3:// URI, for :func:`surge.baseline.resolve_baseline`."""

    def read(source: BaselineFile, spec: str) -> Baseline:
        uri = source.file
        bucket, key = layout.parse_s3_uri(uri)
        where = f"baseline file {uri}"
        try:
            body = _read_capped(s3, bucket, key, where)
        except _Unreadable as exc:
            raise BaselineError(f"{where}: cannot read it ({exc.reason})") from None
        except ValueError as exc:
            raise BaselineError(str(exc)) from None
        return baseline_from_file(body, source, where=where, spec=spec, ref=uri, name=layout.object_name(key))

    return read


# -- S3 reading ----------------------------------------------------------------------------------------


class _Unreadable(Exception):
    """An object that cannot be read for a reason the user can fix (missing, denied)."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


_REASONS = {
    "NoSuchKey": "no such object",
    "404": "no such object",
    "NotFound": "no such object",
    "NoSuchBucket": "no such bucket",
    "AccessDenied": "access denied",
    "403": "access denied",
    "AllAccessDisabled": "access denied",
}


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _get(s3: Any, bucket: str, key: str) -> Any:
    try:
        return s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        code = _error_code(exc)
        if not code:
            raise  # not an answer from S3 (network, credentials): an error of the run, not the plan
        message = getattr(exc, "response", {}).get("Error", {}).get("Message") or code
        raise _Unreadable(_REASONS.get(code, str(message)), code) from None


def _hint(exc: _Unreadable, src_bucket: str, bucket: str) -> str:
    # The functions' roles read the stack's bucket only, under plans/ (and the runs' own inputs).
    if src_bucket != bucket or exc.code in ("AccessDenied", "403", "AllAccessDisabled"):
        return f" (cloud runs read files in s3://{bucket}/{layout.PLANS_PREFIX})"
    return ""


class _RawBody(io.RawIOBase):
    """A botocore StreamingBody as a raw stream, so io.TextIOWrapper can decode it line by line
    (older botocore bodies lack readinto)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


__all__ = [
    "StagedFiles",
    "baseline_reader",
    "fetch_data_file",
    "fetch_file_parts",
    "fetch_hooks",
    "file_refs",
    "stage_files",
    "upload_local_files",
    "with_file_refs",
]
