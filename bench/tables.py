"""Plain-text tables for the bench scripts' output: columns padded to their widest cell, a rule under the header."""

from __future__ import annotations


def text_table(header: list[str], rows: list[list[str]]) -> str:
    cells = [header] + rows
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
