"""A plan's data file (CSV): checked as every run reads it, and read by each worker."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO


def check_data_csv(fh: TextIO, shown: str) -> list[str]:
    """The columns of a data file, checked as every run reads it: a header naming the columns, at
    least one row, every row as wide as the header. Reads to the end (a line at a time), so a file
    that is not UTF-8 text fails here rather than in a worker. ``shown`` names the file in messages
    (a path locally, the s3:// URI in the cloud). Raises ValueError."""
    reader = csv.reader(fh)
    try:
        header = next(reader, None)
        if not header:
            raise ValueError(f"{shown} is empty; the first row must name the columns")
        rows = 0
        for row in reader:
            if not row:
                continue  # a blank line: the csv module skips it when the rows are read
            rows += 1
            if len(row) != len(header):
                raise ValueError(
                    f"{shown} line {reader.line_num} has {len(row)} values; the header names "
                    f"{len(header)} columns"
                )
    except UnicodeDecodeError:
        raise ValueError(f"{shown} is not UTF-8 text; save it as CSV UTF-8") from None
    except csv.Error as exc:
        raise ValueError(f"{shown} line {reader.line_num}: {exc}") from None
    if rows == 0:
        raise ValueError(f"{shown} has a header but no rows; each iteration takes its values from a row")
    return [h.strip() for h in header]


# Every worker holds its data file's rows in memory (a Lambda worker has 1,769 MB in all).
MAX_DATA_BYTES = 64 << 20


def read_data_columns(path: Path) -> list[str]:
    size = path.stat().st_size
    if size > MAX_DATA_BYTES:
        raise ValueError(
            f"{path} is {size:,} bytes; a data file may be at most {MAX_DATA_BYTES:,} "
            "(every worker holds its rows in memory): use a sample of the rows"
        )
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return check_data_csv(fh, str(path))


def read_data_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(fh)]
