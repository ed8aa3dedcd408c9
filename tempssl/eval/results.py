"""Protocol results as tables and JSON files: what every `tools/evaluate.py` command prints and writes.

A result document:

    {"protocol": "knn", "inputs": {...}, "settings": {...}, "results": {...},
     "baseline": {"inputs": {...}, "results": {...}}}      # "baseline" only with one
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from tempssl.atomic import atomic_path

Rows = list[tuple[str, object]]


def report(
    document: dict,
    rows: Callable[[dict], Rows],
    out: str | Path,
    stream: TextIO | None = None,
    column: str = "embeddings",
) -> Path:
    """Write `document` as JSON to `out` (atomically), then print its table to `stream`.

    Args:
        document: `{"protocol", "inputs", "results", optional "baseline": {"results"}}`.
        rows: `(metric, value)` rows of one `results` dict.
        out: the JSON file.
        stream: where the table goes (default: standard output).
        column: the heading of the results' column (the baseline's is "baseline").

    Returns:
        `out`.
    """
    out, stream = write_json(out, document), stream or sys.stdout
    columns = {column: rows(document["results"])}
    if "baseline" in document:
        columns["baseline"] = rows(document["baseline"]["results"])
    inputs = ", ".join(f"{k} {v}" for k, v in document["inputs"].items() if v is not None)
    print(f"{document['protocol']}: {inputs}", file=stream)
    print(format_table(columns), file=stream)
    print(f"wrote {out}", file=stream)
    return out


def format_table(columns: dict[str, Rows]) -> str:
    """A Markdown table with aligned columns: one row per metric, one column per result set.

    Args:
        columns: `{column name: [(metric, value), ...]}`; metrics are taken in first-seen order;
            floats print with 4 decimals, None and NaN as "-".

    Returns:
        The table, without a trailing newline.
    """
    metrics = list(dict.fromkeys(metric for rows in columns.values() for metric, _ in rows))
    values = {name: dict(rows) for name, rows in columns.items()}
    table = [["metric", *columns]] + [
        [metric, *(_cell(values[name].get(metric)) for name in columns)] for metric in metrics
    ]
    widths = [max(3, *(len(row[i]) for row in table)) for i in range(len(table[0]))]
    rule = ["-" * widths[0]] + ["-" * (w - 1) + ":" for w in widths[1:]]  # numbers right-aligned
    lines = [
        [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        for row in [table[0], rule, *table[1:]]
    ]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def write_json(path: str | Path, document: dict) -> Path:
    """Write `document` as indented JSON atomically (see `atomic_path`).

    numpy scalars and arrays become numbers and lists; NaN and infinities become null.
    """
    text = json.dumps(_jsonable(document), indent=2, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def mean(values: Sequence[float | None]) -> float | None:
    """The mean of the values that are not None (None when all are)."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value
