"""A [nodes.N] table added to the gateway's TOML, every other byte of the file left as it was.

The gateway's configuration is a file people read and annotate (deploy/gateway.toml is
mostly comments), so provisioning must not rewrite it: the new table goes in as one
block of text, and the rest of the file comes out byte for byte. tomlkit, which
round-trips TOML, renders the block's values and parses the result; the result must
then mean what the file meant plus the one table, or nothing is written.

Where the block goes: after the last table of [nodes] (its commented-out keys, such
as the example's `# key = ...`, stay with it), before the blank lines and the
comments that head the next table. A file without [nodes] gets it at its end. Where
the file leaves that place in doubt (a line inside a multi-line string that looks like
a header), the check of the result finds it, and the block goes to the end instead.
"""

import re
from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from meteolink.firmware.frames import MeteolinkError

# A table header line, [name] or [a.b] (not [[array]]), and one of [nodes] itself or [nodes.N].
_HEADER = re.compile(r"^[ \t]*\[(?!\[)")
_NODES_HEADER = re.compile(r"""^[ \t]*\[[ \t]*(?:nodes|"nodes"|'nodes')[ \t]*[.\]]""")
_COMMENT = re.compile(r"^[ \t]*#")
_COMMENTED_KEY = re.compile(r"""^[ \t]*#[ \t]*[A-Za-z0-9_."'-]+[ \t]*=""")  # `# key = "..."`


class TomlEditError(MeteolinkError):
    """The table could not be added without changing what the rest of the file means."""


def _blank(line: str) -> bool:
    return not line.strip()


def _insertion_line(lines: list[str]) -> int:
    """The index of the line the new table goes before (len(lines): the end)."""
    headers = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    nodes = [i for i in headers if _NODES_HEADER.match(lines[i])]
    if not nodes:
        return len(lines)
    last = nodes[-1]
    at = next((i for i in headers if i > last), len(lines))
    if at < len(lines):
        # Comments right above the next header speak of that header, but a commented-out
        # key (`# key = ...`) is one of the table above, left for later.
        while (
            at - 1 > last
            and _COMMENT.match(lines[at - 1])
            and not _COMMENTED_KEY.match(lines[at - 1])
        ):
            at -= 1
    while at - 1 > last and _blank(lines[at - 1]):
        at -= 1
    return at


def render(node: int, values: Mapping[str, Any], comment: str, newline: str = "\n") -> str:
    """The table's text: a comment line, [nodes.N], then one `key = value` line per value."""
    lines = [f"# {comment}", f"[nodes.{node}]"]
    lines += [f"{key} = {tomlkit.item(value).as_string()}" for key, value in values.items()]
    return newline.join(lines) + newline


def add_node(text: str, node: int, values: Mapping[str, Any], comment: str) -> tuple[str, str]:
    """text with [nodes.node] added; also the block that was inserted, as it stands in it.

    TomlEditError if text is not TOML tomlkit reads, or if no place keeps the rest of the
    file's meaning (a [nodes] written as an inline table, say).
    """
    try:
        before = tomlkit.parse(text).unwrap()
    except TOMLKitError as e:
        raise TomlEditError(f"not valid TOML: {e}") from None
    newline = "\r\n" if "\r\n" in text else "\n"
    table = render(node, values, comment, newline)
    wanted = dict(before)
    nodes = wanted.get("nodes", {})
    if not isinstance(nodes, dict) or str(node) in nodes:
        raise TomlEditError(f"[nodes] already has {node} or is not a table")
    wanted["nodes"] = {**nodes, str(node): dict(values)}
    lines = text.splitlines(keepends=True)
    # The chosen place, then the end of the file, where a table can always go
    # unless [nodes] was closed by an inline table or dotted keys.
    for at in dict.fromkeys((_insertion_line(lines), len(lines))):
        head = "".join(lines[:at])
        tail = "".join(lines[at:])
        block = table
        if head and not head.endswith(("\n", "\r")):
            block = newline + block  # the last line had no line break
        if head.strip() and not _blank(head.splitlines()[-1]):
            block = newline + block  # a blank line before the table
        if tail and not _blank(tail.splitlines()[0]):
            block += newline  # and after it
        result = head + block + tail
        try:
            after = tomlkit.parse(result).unwrap()
        except TOMLKitError:
            continue
        if after == wanted:
            return result, block
    raise TomlEditError(
        f"cannot add [nodes.{node}] without changing the rest of the file: write each node as"
        " a [nodes.N] table, not [nodes] as an inline table or dotted keys"
    )
