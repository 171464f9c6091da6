"""Text for a CSV cell that a spreadsheet shows as text, never runs as a formula.

CSV injection (CWE-1236): Excel and LibreOffice Calc open a CSV cell that begins with
`=`, `+`, `-`, `@`, TAB or CR as a formula, so a station named
`=HYPERLINK("http://evil","x")` in the gateway's config becomes a link in the
municipality's spreadsheet, and `-cmd|' /C calc'!A0` a command (DDE). OWASP's
"CSV Injection" page (owasp.org/www-community/attacks/CSV_Injection) lists those six
first characters and the fix followed here: prefix such a cell with a single quote,
which the spreadsheet takes as "this is text" (and shows without the quote in Excel);
the csv module quotes the cell, so separators and quotes inside it stay in it.

Only text is escaped: the callers pass names, locations, titles and flags here and
write numbers as numbers. A -12.5 °C reading must stay a number cell (winters reach
-30 °C), else every sum and chart of the file breaks. A text that is itself a plain
decimal number (`-12.5`, `+3`, `1e-3`) is left as it is too: a spreadsheet reads it as
that number, and a number runs nothing.
"""

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP, CSV Injection
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def text(value: str) -> str:
    """value as a CSV cell a spreadsheet cannot run: with a leading ' if it would be a
    formula, else unchanged."""
    if value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value
