"""CSV files in and out, one behaviour for every feature.

Export goes through `defusedcsv`: a cell that a spreadsheet would run as a formula (starting with
`=`, `+`, `-`, `@`, `|` or `%`, and, as OWASP also lists, a tab or a carriage return) is written
with a leading `'` so it shows as text; plain negative numbers stay numbers. Import reads UTF-8
text (a byte-order mark is dropped), refuses a NUL character with the line it is on, and takes
`;` or tab as the delimiter when the header row is split by one of them rather than by commas
(spreadsheets in many locales save CSV with semicolons).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from defusedcsv import csv as defused

from strata.errors import ValidationError

DELIMITERS = (",", ";", "\t")


class _Writer:
    """defusedcsv's writer, also neutralising cells that start with a tab or a carriage return."""

    def __init__(self, out: Any):
        self._writer = defused.writer(out)

    @staticmethod
    def _cell(value: Any) -> Any:
        if isinstance(value, str) and value[:1] in ("\t", "\r"):
            return "'" + value
        return value

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([self._cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: Any) -> _Writer:
    """Return a CSV writer onto the text stream `out` that neutralises formula cells."""
    return _Writer(out)


def text(rows: Iterable[Iterable[Any]]) -> str:
    """Return `rows` as CSV text, formula cells neutralised."""
    out = io.StringIO()
    writer(out).writerows(rows)
    return out.getvalue()


def delimiter(header_line: str) -> str:
    """Return the delimiter of a CSV whose first line is `header_line`: ",", or ";" / tab when they split it more."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def reader(content: str, field: str = "file") -> Iterator[list[str]]:
    """Return a csv reader over `content`; raise ValidationError naming the line of a NUL character."""
    at = content.find("\x00")
    if at >= 0:
        line = content.count("\n", 0, at) + 1
        raise ValidationError.single(field, "nul", f"The file contains a NUL character on line {line}; save it "
                                                   "again as CSV text (a spreadsheet's \"CSV UTF-8\").")
    first = content.split("\n", 1)[0]
    return csv.reader(io.StringIO(content, newline=""), delimiter=delimiter(first))
