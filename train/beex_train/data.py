"""GLUE-format TSV loading.

Any tab-separated file with a header row (or none, as GLUE's CoLA ships) works:
the text and label columns are named or numbered by the caller. Known GLUE
tasks have presets so the common case needs no flags.
"""
from __future__ import annotations

import csv
import dataclasses
import sys
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Columns:
    text_a: str
    text_b: Optional[str]
    label: str
    header: bool = True


# Column presets for the GLUE tasks in ../shared/data/glue.
PRESETS = {
    "sst2": Columns("sentence", None, "label"),
    "cola": Columns("3", None, "1", header=False),
    "stsb": Columns("sentence1", "sentence2", "score"),
    "mrpc": Columns("#1 String", "#2 String", "Quality"),
    "rte": Columns("sentence1", "sentence2", "label"),
    "qnli": Columns("question", "sentence", "label"),
}


def add_column_args(group) -> None:
    """The flags that name a TSV's columns (train.py, calibrate.py)."""
    group.add_argument("--task", choices=sorted(PRESETS), help="GLUE column preset")
    group.add_argument("--text-a", help="first text column (name, or number when --no-header)")
    group.add_argument("--text-b", help="second text column, for sentence-pair tasks")
    group.add_argument("--label", help="label column")
    group.add_argument("--no-header", action="store_true", help="the TSV has no header row")


def columns_from_args(a) -> Optional[Columns]:
    """Columns from add_column_args' flags over the --task preset; None when
    the text or label column is unnamed."""
    preset = PRESETS.get(a.task) if a.task else None
    columns = Columns(a.text_a or (preset and preset.text_a), a.text_b or (preset and preset.text_b),
                      a.label or (preset and preset.label),
                      header=(not a.no_header) if not preset or a.text_a else preset.header)
    return columns if columns.text_a and columns.label else None


@dataclasses.dataclass
class Example:
    text_a: str
    text_b: Optional[str]
    label: str


def _column_index(spec: str, header: Optional[list[str]]) -> int:
    if spec.isdigit():
        return int(spec)
    if header is None:
        raise ValueError(f"column '{spec}' named but the file has no header; use its number")
    # MRPC's header starts with a UTF-8 byte-order mark.
    names = [h.lstrip("\ufeff").strip() for h in header]
    if spec not in names:
        raise ValueError(f"column '{spec}' not in header {names}")
    return names.index(spec)


def read_tsv(path: str, columns: Columns) -> list[Example]:
    """Reads examples; rows with too few fields are skipped with a warning."""
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = rows[0] if columns.header else None
    body = rows[1:] if columns.header else rows
    ia = _column_index(columns.text_a, header)
    ib = _column_index(columns.text_b, header) if columns.text_b else None
    il = _column_index(columns.label, header)
    need = max(i for i in (ia, ib, il) if i is not None)
    examples, skipped = [], 0
    for row in body:
        if len(row) <= need:
            skipped += 1
            continue
        examples.append(Example(row[ia].strip(), row[ib].strip() if ib is not None else None,
                                row[il].strip()))
    if skipped:
        print(f"warning: {path}: skipped {skipped} rows with fewer than {need + 1} fields",
              file=sys.stderr)
    if not examples:
        raise ValueError(f"{path}: no examples read")
    return examples
