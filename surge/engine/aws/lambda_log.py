"""Reading a Lambda invocation's log tail (``LogType=Tail``): the REPORT line's figures, cold or warm.

Lambda returns the last 4 KB of the invocation's log, base64-encoded. Its REPORT line reads
``REPORT RequestId: ...\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\t
Max Memory Used: 60 MB\tInit Duration: 212.34 ms`` and carries ``Init Duration`` only on a cold
start (``Restore Duration`` on a SnapStart restore). Functions with JSON logging report the same
as a ``platform.report`` record. Pure functions; nothing here keeps the log's text.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

_FIELD = re.compile(
    r"(Init Duration|Restore Duration|Billed Restore Duration|Billed Duration|Duration"
    r"|Memory Size|Max Memory Used):\s*([\d.]+)\s*(ms|MB)"
)
_TEXT_KEYS = {
    "Duration": "duration_ms",
    "Billed Duration": "billed_ms",
    "Init Duration": "init_ms",
    "Restore Duration": "restore_ms",
    "Billed Restore Duration": "billed_restore_ms",
    "Memory Size": "memory_mb",
    "Max Memory Used": "max_memory_mb",
}
_JSON_KEYS = {
    "durationMs": "duration_ms",
    "billedDurationMs": "billed_ms",
    "initDurationMs": "init_ms",
    "restoreDurationMs": "restore_ms",
    "billedRestoreDurationMs": "billed_restore_ms",
    "memorySizeMB": "memory_mb",
    "maxMemoryUsedMB": "max_memory_mb",
}


def decode_log_result(log_result: str | None) -> str:
    """The base64 ``LogResult`` of an invocation as text ('' when absent or not base64)."""
    if not log_result:
        return ""
    try:
        return base64.b64decode(log_result, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


def _json_report(line: str) -> dict[str, float] | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict) or rec.get("type") != "platform.report":
        return None
    record = rec.get("record")
    metrics = record.get("metrics") if isinstance(record, dict) else None
    if not isinstance(metrics, dict):
        return None
    return {
        out: float(metrics[key])
        for key, out in _JSON_KEYS.items()
        if isinstance(metrics.get(key), int | float) and not isinstance(metrics.get(key), bool)
    }


def parse_report(log_tail: str) -> dict[str, float] | None:
    """The last REPORT line's figures (duration_ms, billed_ms, init_ms, memory_mb, ...), or None."""
    for line in reversed(log_tail.splitlines()):
        stripped = line.strip()
        if stripped.startswith("REPORT "):
            return {_TEXT_KEYS[m.group(1)]: float(m.group(2)) for m in _FIELD.finditer(stripped)}
        if stripped.startswith("{") and '"platform.report"' in stripped:
            found = _json_report(stripped)
            if found is not None:
                return found
    return None


def classify_cold_start(log_tail: str) -> tuple[str, float | None]:
    """("cold", init ms) when the REPORT line has an Init (or SnapStart Restore) Duration,
    ("warm", None) when it has none, ("unknown", None) when the tail holds no REPORT line."""
    report = parse_report(log_tail)
    if report is None:
        return "unknown", None
    if "init_ms" in report:
        return "cold", report["init_ms"]
    if "restore_ms" in report:
        return "cold", report["restore_ms"]
    return "warm", None
