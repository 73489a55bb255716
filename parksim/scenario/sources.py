"""Where each value of a scenario comes from: the source tags written beside its keys.

Scenario files say where every number comes from in a comment on the key's line (and the
comment lines that continue it), or on the header of the table it is in: ``[S ...]`` stated
by a cited source, ``[D ...]`` derived by arithmetic from stated ones, ``[R ...]`` widely
reported, ``[E ...]`` an estimate (with its plausible range), ``[C ...]`` calibrated (see
docs/scenarios.md). TOML parsers drop comments, so :func:`source_notes` reads them from the
file's text: per key path (``district.rd_share``, ``parks.initial[2].floor_area_m2``, a table
header's note under the table's path), the comment written beside it, and :func:`tags` the
letters of the tags in that comment. An ``extends`` chain is read parent first: a child that
writes a key replaces its parent's note (with its own, or with none), and an array of tables
it writes replaces the parent's array whole. :func:`written_keys` tells the keys a chain
writes from those it leaves to the schema's defaults.

This is what a report's assumptions table shows beside each value; it never changes what a
scenario means.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["TAG_MEANINGS", "parameters", "source_notes", "tags", "written_keys"]

TAG_MEANINGS = {
    "S": "stated by the cited source",
    "D": "derived by arithmetic from stated figures",
    "R": "widely reported, not re-checked",
    "E": "an estimate, with its plausible range",
    "C": "calibrated to observations",
}
"""What each source tag's letter says about a value."""

_TAG = re.compile(r"\[([SDREC])(?=[\s\]:;,/\-])")
_MULTILINE = ('"""', "'''")


def _scan(text: str, open_string: str | None = None) -> tuple[str, str, str | None]:
    """A line split into its code, with the inside of strings blanked (so brackets, dots and
    ``#`` in them do not count), and its comment; and the multi-line string still open at its
    end, if any (``open_string``: the one open at its start)."""
    code: list[str] = []
    quote = open_string
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if quote in _MULTILINE and text.startswith(quote, i):
                code.append(quote)
                i += 3
                quote = None
            elif quote[0] == '"' and ch == "\\":  # an escape in a basic string
                code.append("__")
                i += 2
            elif len(quote) == 1 and ch == quote:
                code.append(ch)
                i += 1
                quote = None
            else:
                code.append("_")
                i += 1
        elif text.startswith(_MULTILINE, i):
            quote = text[i:i + 3]
            code.append(quote)
            i += 3
        elif ch in "\"'":
            quote = ch
            code.append(ch)
            i += 1
        elif ch == "#":
            return "".join(code), text[i + 1:].strip(), None
        else:
            code.append(ch)
            i += 1
    return "".join(code), "", quote if quote in _MULTILINE else None


def _dotted(raw: str, code: str) -> str:
    """A key or table name, possibly dotted and quoted, from its raw text and its scanned
    code (the same length): only dots outside quotes separate, and quotes are dropped."""
    parts, start = [], 0
    for i, ch in enumerate(code):
        if ch == ".":
            parts.append(raw[start:i])
            start = i + 1
    parts.append(raw[start:])
    out = []
    for part in parts:
        part = part.strip()
        out.append(part[1:-1] if len(part) >= 2 and part[0] in "\"'" and part[-1] == part[0]
                   else part)
    return ".".join(out)


def _depth(code: str) -> int:
    return code.count("[") + code.count("{") - code.count("]") - code.count("}")


def _notes_of_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """A file's notes by key path (a table header's under the table's path), and the arrays
    of tables it writes."""
    notes: dict[str, str] = {}
    arrays: dict[str, int] = {}
    table = ""
    last: str | None = None  # the key or table whose note a bare comment line continues
    depth = 0  # brackets still open in a multi-line value
    open_string: str | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        code, comment, still_open = _scan(raw, open_string)
        inside, open_string = depth > 0 or open_string is not None, still_open
        if inside:
            depth = max(depth + _depth(code), 0)
            if comment and last:
                notes[last] = f"{notes.get(last, '')} {comment}".strip()
            continue
        stripped = code.strip()
        if not stripped:
            if comment and last and raw.startswith((" ", "\t")):
                notes[last] = f"{notes.get(last, '')} {comment}".strip()
            else:
                last = None
            continue
        lead = len(code) - len(code.lstrip())
        if stripped.startswith("["):
            double = stripped.startswith("[[")
            start = lead + (2 if double else 1)
            end = code.rindex("]") - (1 if double else 0)
            name = _dotted(raw[start:end], code[start:end])
            for array in sorted(arrays, key=len, reverse=True):
                if name.startswith(array + "."):  # a table inside the array's last entry
                    name = f"{array}[{arrays[array]}]{name[len(array):]}"
                    break
            if double:
                arrays[name] = arrays.get(name, -1) + 1
                name = f"{name}[{arrays[name]}]"
            table = last = name
            if comment:
                notes[name] = comment
            continue
        equals = code.find("=")
        if equals < 0:
            continue
        key = _dotted(raw[lead:equals], code[lead:equals])
        last = f"{table}.{key}" if table else key
        depth = max(_depth(code[equals + 1:]), 0)
        if comment:
            notes[last] = comment
    return notes, set(arrays)


def _written(data: Any, prefix: str = "") -> Iterator[str]:
    """The key paths TOML data write: tables and arrays of tables walked, values named."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _written(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for i, value in enumerate(data):
            yield from _written(value, f"{prefix}[{i}]")
    else:
        yield prefix


def _keys_of(file: str | Path) -> set[str]:
    with open(file, "rb") as fh:
        return set(_written(tomllib.load(fh)))


def written_keys(files: Iterable[str | Path]) -> set[str]:
    """The key paths an ``extends`` chain writes, in any of its files; any other key takes
    the schema's default."""
    keys: set[str] = set()
    for file in files:
        keys |= _keys_of(file)
    return keys


def source_notes(files: Iterable[str | Path]) -> dict[str, str]:
    """Per key path, the comment written beside it in ``files`` (an ``extends`` chain, parent
    first), or beside its table's header (under the table's path). A later file that writes a
    key replaces the earlier note, with its own or with none, and an array of tables it
    writes replaces the earlier array's notes whole."""
    notes: dict[str, str] = {}
    for file in files:
        own, arrays = _notes_of_file(Path(file))
        for array in arrays:
            notes = {k: v for k, v in notes.items()
                     if k != array and not k.startswith((array + "[", array + "."))}
        for key in _keys_of(file):
            notes.pop(key, None)
        notes.update(own)
    return notes


def tags(note: str) -> str:
    """The letters of the source tags in a note, in order and without repeats: ``"ES"`` for
    ``"[E 5-9; SAIC mean life 6.09 years [S]]"``."""
    seen = dict.fromkeys(m.group(1) for m in _TAG.finditer(note))
    return "".join(seen)


def parameters(scenario: BaseModel, prefix: str = "") -> Iterator[dict[str, Any]]:
    """Every value a scenario sets, as ``{"path", "value", "unit", "description"}``: its
    key path, its value and the unit and description its schema gives (tables, lists of
    tables and tables of tables are walked; a list of numbers is one value). The scenario's
    name, description, ``[run]``, ``[uncertain]`` and observations are not parameters."""
    for name, info in type(scenario).model_fields.items():
        if not prefix and name in ("name", "description", "extends", "run", "uncertain",
                                   "observations"):
            continue
        path = f"{prefix}{name}"
        value = getattr(scenario, name)
        if isinstance(value, BaseModel):
            yield from parameters(value, path + ".")
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            for i, item in enumerate(value):
                yield from parameters(item, f"{path}[{i}].")
        elif isinstance(value, dict) and value and isinstance(
                next(iter(value.values())), BaseModel):
            for key, item in value.items():
                yield from parameters(item, f"{path}.{key}.")
        else:
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            yield {"path": path, "value": value, "unit": extra.get("unit", ""),
                   "description": info.description or ""}
