"""Where each value of a scenario comes from: the source tags written beside its keys.

Scenario files say where every number comes from in a comment on the key's line (and the
comment lines that continue it): ``[S ...]`` stated by a cited source, ``[D ...]`` derived by
arithmetic from stated ones, ``[R ...]`` widely reported, ``[E ...]`` an estimate (with its
plausible range), ``[C ...]`` calibrated (see docs/scenarios.md). TOML parsers drop comments,
so :func:`source_notes` reads them from the file's text: per key path (``district.rd_share``,
``parks.initial[2].floor_area_m2``), the comment written beside it, and :func:`tags` the
letters of the tags in that comment. An ``extends`` chain is read parent first, so a child's
note replaces its parent's for the keys it sets.

This is what a report's assumptions table shows beside each value; it never changes what a
scenario means.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["TAG_MEANINGS", "parameters", "source_notes", "tags"]

TAG_MEANINGS = {
    "S": "stated by the cited source",
    "D": "derived by arithmetic from stated figures",
    "R": "widely reported, not re-checked",
    "E": "an estimate, with its plausible range",
    "C": "calibrated to observations",
}
"""What each source tag's letter says about a value."""

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]+"|'[^']+'|[A-Za-z0-9_\-.]+)\s*=\s*(.*)$""")
_TAG = re.compile(r"\[([SDREC])(?=[\s\]:;,/\-])")


def _comment(text: str) -> tuple[str, str]:
    """A line split into its code and its comment (a ``#`` outside a string)."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return text[:i], text[i + 1:].strip()
    return text, ""


def _name(part: str) -> str:
    part = part.strip()
    return part[1:-1] if part[:1] in "\"'" and part[-1:] == part[:1] else part


def _notes_of_file(path: Path) -> dict[str, str]:
    notes: dict[str, str] = {}
    table = ""
    arrays: dict[str, int] = {}
    last: str | None = None  # the key whose comment a bare comment line continues
    depth = 0  # open brackets of a multi-line value
    for raw in path.read_text(encoding="utf-8").splitlines():
        code, comment = _comment(raw)
        if depth > 0:
            depth += code.count("[") + code.count("{") - code.count("]") - code.count("}")
            if comment and last:
                notes[last] = f"{notes.get(last, '')} {comment}".strip()
            continue
        if not code.strip():
            if comment and last and raw.startswith((" ", "\t")):
                notes[last] = f"{notes[last]} {comment}".strip() if notes.get(last) else comment
            else:
                last = None
            continue
        header = _HEADER.match(code)
        if header:
            name = ".".join(_name(p) for p in header.group(2).split("."))
            if header.group(1) == "[[":
                arrays[name] = arrays.get(name, -1) + 1
                table = f"{name}[{arrays[name]}]"
            else:
                table = name
                for array, i in arrays.items():  # a sub-table of the array's last entry
                    if name.startswith(array + "."):
                        table = f"{array}[{i}]{name[len(array):]}"
            last = None
            continue
        key = _KEY.match(code)
        if key:
            path_ = ".".join(p for p in (table, ".".join(
                _name(p) for p in key.group(1).split("."))) if p)
            value = key.group(2)
            depth = value.count("[") + value.count("{") - value.count("]") - value.count("}")
            depth = max(depth, 0)
            last = path_
            if comment:
                notes[path_] = comment
    return notes


def source_notes(files: Iterable[str | Path]) -> dict[str, str]:
    """Per key path, the comment written beside it in ``files`` (an ``extends`` chain, parent
    first: a later file's note replaces an earlier one's for the same key)."""
    notes: dict[str, str] = {}
    for file in files:
        notes.update(_notes_of_file(Path(file)))
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
