"""Reading scenario files: TOML, ``extends`` chains, ``--set`` overrides, and error messages.

A scenario file may name a parent with ``extends = "other.toml"`` (relative to the file).
The chain is merged parent first: tables merge key by key, arrays (such as the list of parks)
are replaced whole. The merged files are validated as written; command-line overrides
(``--set path.to.key=value``) are applied afterwards and validated again, so an error always
names where the bad value came from: a file (with the line, where it can be found) or a flag.

Every failure is a :class:`ScenarioError`, which renders as one line for people and as a
JSON object for programs.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
import stat
import tomllib
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from parksim.scenario.priors import (
    FAMILIES,
    Choice,
    active,
    draw,
    paths_written,
    realise,
    resolve,
    support,
    typed_like,
)
from parksim.scenario.schema import Scenario

__all__ = [
    "ScenarioError",
    "ScenarioWarning",
    "Layer",
    "load_scenario",
    "load_with_sources",
    "load_raw",
    "apply_file_overrides",
    "source_files",
    "text_sha256",
    "apply_overrides",
    "validate",
    "validate_model",
    "check_priors",
    "check_parameter_sets",
    "read_toml",
    "find_line",
    "parse_key",
    "nearest_name",
]


class ScenarioWarning(UserWarning):
    """Something in a scenario file that works but is probably not meant (the command line
    prints it as ``parksim: warning: ...``)."""


@dataclass
class ScenarioError(Exception):
    """Bad input: which file, which key, what was expected."""

    file: str
    message: str
    key: str = ""
    line: int | None = None
    suggestion: str | None = None
    details: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        key = f" {self.key}:" if self.key else ""
        hint = f" (did you mean '{self.suggestion}'?)" if self.suggestion else ""
        more = f" [and {len(self.details)} more]" if self.details else ""
        return f"{where}:{key} {self.message}{hint}{more}"

    def to_json(self) -> dict[str, Any]:
        return {
            "error": "bad_input",
            "file": self.file,
            "key": self.key or None,
            "line": self.line,
            "message": self.message,
            "suggestion": self.suggestion,
            "more": self.details,
        }


# --------------------------------------------------------------------------- files and chains


MAX_FILE_BYTES = 1 << 20
"""The largest input file read (scenario, experiment, calibration): 1 MiB."""
MAX_CHAIN = 32
"""The most files an ``extends`` chain may hold."""
MAX_NESTING = 32
"""The deepest nesting of tables and arrays an input (a file, a ``--set`` value) may have."""


def nesting(value: Any) -> int:
    """How deeply tables and arrays nest in ``value`` (0 for a plain value), without
    recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list | tuple):
            deepest = max(deepest, depth + 1)
            stack.extend((v, depth + 1) for v in node)
    return deepest


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text parsed, refusing more than :data:`MAX_NESTING` levels of nesting (a
    ``ValueError``; the parser recurses, so very deep nesting would otherwise crash it)."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        data = None
    if data is None or nesting(data) > MAX_NESTING:
        raise ValueError(f"tables or arrays nested more than {MAX_NESTING} levels deep")
    return data


def read_toml(path: Path, asked_by: ScenarioError | None = None) -> tuple[dict[str, Any], str]:
    """A TOML input file's data and text. Refused: a missing file, anything but a regular
    file (a directory, a device such as /dev/zero, a pipe), a file over 1 MiB, bad UTF-8 or
    TOML, and nesting deeper than :data:`MAX_NESTING`. ``asked_by`` is where a file named by
    another (an ``extends``) is blamed for what is wrong with the file as a file (missing, not
    a regular file, too large): that file, key and line, with this path in the message; what
    is wrong inside the file is blamed on the file itself, at its line."""

    def refuse(message: str, line: int | None = None, inside: bool = False) -> ScenarioError:
        if asked_by is not None and not inside:
            return ScenarioError(asked_by.file, f"{path}: {message}", key=asked_by.key,
                                 line=asked_by.line)
        return ScenarioError(str(path), message, line=line)

    try:
        info = path.stat()
    except FileNotFoundError:
        raise refuse("file not found") from None
    except OSError as exc:
        raise refuse(f"cannot read file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise refuse("is a directory, expected a TOML file")
    if not stat.S_ISREG(info.st_mode):
        raise refuse("is not a regular file (a device, a pipe or a socket), expected a TOML "
                     "file")
    if info.st_size > MAX_FILE_BYTES:
        raise refuse(f"is {info.st_size:,} bytes; an input file is at most 1 MiB")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text
    except (OSError, UnicodeDecodeError) as exc:
        raise refuse(f"cannot read file: {exc}", inside=True) from None
    if len(raw) > MAX_FILE_BYTES:
        raise refuse("grew past 1 MiB while it was read; an input file is at most 1 MiB")
    try:
        return parse_toml(text), text
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(match.group(1)) if match else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        raise refuse(f"TOML syntax error: {msg}", line, inside=True) from None
    except ValueError as exc:
        raise refuse(str(exc), inside=True) from None


@dataclass(frozen=True)
class Layer:
    """One file of an ``extends`` chain, as written."""

    path: Path
    data: dict[str, Any]
    text: str


def _chain(path: Path, seen: tuple[Path, ...] = (),
           asked_by: ScenarioError | None = None) -> list[Layer]:
    resolved = path.resolve()
    if resolved in seen:
        cycle = " -> ".join(str(p) for p in (*seen, resolved))
        raise ScenarioError(
            str(path), f"extends chain loops back on itself: {cycle}", key="extends"
        )
    if len(seen) >= MAX_CHAIN:
        raise ScenarioError(asked_by.file if asked_by else str(path),
                            f"the extends chain holds more than {MAX_CHAIN} files",
                            key="extends", line=asked_by.line if asked_by else None)
    data, text = read_toml(path, asked_by)
    parent = data.pop("extends", None)
    layer = Layer(path, data, text)
    if parent is None:
        return [layer]
    if not isinstance(parent, str) or not parent:
        raise ScenarioError(
            str(path),
            "expected a file name (string)",
            key="extends",
            line=find_line(text, ("extends",)),
        )
    parent_path = path.parent / parent
    line = find_line(text, ("extends",))
    if not parent_path.exists():
        looked = f" (looked in {parent_path.parent.resolve()})" if not Path(parent).is_absolute() \
            else ""
        raise ScenarioError(
            str(path),
            f"extends a file that does not exist: {parent_path}{looked}",
            key="extends",
            line=line,
        )
    asking = ScenarioError(str(path), "", key="extends", line=line)
    return [*_chain(parent_path, (*seen, resolved), asking), layer]


def text_sha256(text: str) -> str:
    """The SHA-256 a manifest records for an input file: of its text, newlines as read."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_files(layers: typing.Iterable[Layer]) -> list[dict[str, str]]:
    """Each input file as a results manifest records it: the path given, where it was read
    from, and :func:`text_sha256` of its text."""
    return [{"path": str(layer.path), "resolved": str(Path(layer.path).resolve()),
             "sha256": text_sha256(layer.text)} for layer in layers]


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; every other value (arrays included) is replaced whole."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_raw(path: str | Path) -> tuple[dict[str, Any], list[Layer]]:
    """The merged raw data of a file and its ``extends`` chain, and the layers (parent first).

    A file that extends another but writes no ``name`` is named after its file (with a
    :class:`ScenarioWarning`), never after its parent: results of two files never share a name.

    Priors (``[uncertain."path"]`` tables) do not merge key by key: a file that writes one
    replaces the inherited one whole. A file that writes a plain value at a key with an
    inherited prior, and no prior of its own for it, fixes the key at that value: the prior is
    dropped (so does ``--set``, see :func:`apply_overrides`, and a sweep's factor).
    """
    layers = _chain(Path(path))
    data: dict[str, Any] = {}
    for layer in layers:
        inherited = data.get("uncertain")
        inherited = dict(inherited) if isinstance(inherited, dict) else {}
        own = layer.data.get("uncertain")
        data = merge(data, layer.data)
        if isinstance(own, dict):
            own = {p: _read_sample(layer, p, prior) for p, prior in own.items()}
            data["uncertain"] = {**inherited, **own}
        else:
            own = {}
        for fixed in paths_written(layer.data, [p for p in inherited if p not in own]):
            del data["uncertain"][fixed]
    if len(layers) > 1 and "name" not in layers[-1].data:
        stem = layers[-1].path.stem
        warnings.warn(f"{layers[-1].path}: writes no name and would inherit "
                      f"{data.get('name')!r} from {layers[-2].path.name}; named {stem!r} after "
                      "its file", ScenarioWarning, stacklevel=2)
        data["name"] = stem
    return data, layers


def _read_sample(layer: Layer, path: str, prior: Any) -> Any:
    """A ``sample`` prior with its values and weights read from its Parquet file (relative to
    the file that names it); any other prior as written."""
    if not (isinstance(prior, dict) and prior.get("dist") == "sample"
            and isinstance(prior.get("file"), str) and prior["file"]) or "values" in prior:
        return prior  # not a sample, or one carried in the file (a results directory's scenario)
    key = ("uncertain", path, "file")
    where = dict(file=str(layer.path), key=_dotted(key), line=find_line(layer.text, key))
    file = layer.path.parent / prior["file"]
    column = prior.get("column") or path
    try:
        import pyarrow.parquet as pq

        raw = file.read_bytes()
        table = pq.read_table(file)
    except FileNotFoundError:
        raise ScenarioError(message=f"sample file not found: {file}", **where) from None
    except Exception as exc:  # pyarrow's errors for a file that is not Parquet
        raise ScenarioError(message=f"cannot read the sample {file}: {exc}", **where) from None
    if column not in table.column_names:
        raise ScenarioError(message=f"the sample {file} has no column {column!r} (columns: "
                            f"{', '.join(table.column_names)})", **where)
    values = table.column(column).to_pylist()
    weights = (table.column("weight").to_pylist() if "weight" in table.column_names
               else [1.0] * len(values))
    numbers = (int, float)
    if not all(isinstance(v, numbers) and not isinstance(v, bool) for v in (*values, *weights)):
        raise ScenarioError(message=f"the sample {file} has missing or non-numeric values in "
                            f"{column!r} or its weights", **where)
    return {**prior, "values": [float(v) for v in values], "weights": [float(w) for w in weights],
            "sample_id": hashlib.sha256(raw).hexdigest()}


# --------------------------------------------------------------------------- overrides


def _parse_value(text: str) -> Any:
    try:
        return parse_toml(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_file_overrides(raw: dict[str, Any], layers: list[Layer], overrides: typing.Sequence[str],
                         file: Path, text: str) -> tuple[dict[str, Any], Any]:
    """An experiment's or calibration's ``overrides`` applied to its base scenario's data:
    the data and the validated scenario. A bad entry is blamed on the file's ``overrides``
    key (at its line), not on a ``--set`` that was never given."""
    where = dict(key="overrides", line=find_line(text, ("overrides",)))
    try:
        raw = apply_overrides(raw, overrides)
        return raw, validate(raw, layers, overridden=apply_overrides({}, overrides))
    except ScenarioError as err:
        entry = f" {err.key}" if err.key else ""
        raise ScenarioError(str(file), f"override{entry}: {err.message}", **where) from None


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Apply ``path.to.key=value`` overrides, each value read as TOML (a bare word: a string)."""
    out = data
    for item in overrides:
        if "=" not in item:
            raise ScenarioError("--set", f"expected path.to.key=value, got {item!r}", key=item)
        path, value = item.split("=", 1)
        keys = [k.strip() for k in path.strip().split(".")]
        if not all(keys):
            raise ScenarioError("--set", f"expected path.to.key=value, got {item!r}", key=path)
        try:
            setting = _nest(keys, _parse_value(value.strip()))
        except ValueError as exc:  # nested too deeply
            raise ScenarioError("--set", str(exc), key=path.strip()) from None
        out = merge(out, setting)
        priors = out.get("uncertain")
        if isinstance(priors, dict):  # a value set at a key with a prior fixes it there
            fixed = paths_written(setting, list(priors))
            out["uncertain"] = {p: v for p, v in priors.items() if p not in fixed}
    return out


def _nest(keys: list[str], value: Any) -> dict[str, Any]:
    for key in reversed(keys):
        value = {key: value}
    return value


# --------------------------------------------------------------------------- validation


def validate(
    data: dict[str, Any],
    layers: list[Layer] | None = None,
    overridden: dict[str, Any] | None = None,
) -> Scenario:
    """Validate merged data; errors name the layer that wrote the bad key, or ``--set``.

    ``overridden`` holds the keys set from the command line (as nested tables), so that an
    error in one of them is reported against the flag rather than a file.
    """
    return validate_model(Scenario, data, layers, overridden)


def validate_model(model: type[BaseModel], data: dict[str, Any], layers: list[Layer] | None = None,
                   overridden: dict[str, Any] | None = None) -> Any:
    """Validate ``data`` as ``model`` (a scenario, an experiment, ...) with located errors."""
    try:
        return model.model_validate(_tuples(data))
    except ValidationError as exc:
        raw = exc.errors()
        # a list shortened by a bad item also reports "too short after validation": a follow-on
        raw = [
            e
            for e in raw
            if not (
                e["type"] == "too_short"
                and "after validation" in e["msg"]
                and any(
                    o is not e and tuple(o["loc"][: len(e["loc"])]) == tuple(e["loc"]) for o in raw
                )
            )
        ]
        errors = [_describe(err, layers or [], overridden or {}, model) for err in raw]
        first = errors[0]
        first.details = [str(e) for e in errors[1:]]
        raise first from None


def _tuples(value: Any) -> Any:
    """TOML arrays as tuples (the schema is strict and frozen)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    return value


def _describe(
    err: dict[str, Any], layers: list[Layer], overridden: dict[str, Any], root: type[BaseModel]
) -> ScenarioError:
    loc = tuple(p for p in err["loc"] if p != "[key]")
    if len(loc) > 2 and loc[0] == "uncertain" and loc[2] in FAMILIES:
        loc = (*loc[:2], *loc[3:])  # the discriminator's tag, not a key of the file
    kind = err["type"]
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    named = _NAMED.match(msg) if kind == "value_error" else None
    if named:  # a cross-field check names the key it is about: "targets.date: ..."
        loc = (*loc, *parse_key(named.group(1)))
        msg = named.group(2)
        # other keys it names (e.g. calendar.horizon): blame the
        # flag or the most derived file that wrote one of them
        mentioned = [loc, *(parse_key(k) for k in _KEYS.findall(msg))]
        flagged = [m for m in mentioned if overridden and _contains(overridden, m)]
        if flagged:
            return ScenarioError("--set", msg, key=_dotted(flagged[0]))
        for layer in reversed(layers):
            written = [m for m in mentioned if _contains(layer.data, m)]
            if written:
                loc = written[0]
                break
    key = _dotted(loc)
    unit = _unit_at(loc, root)
    suggestion = None
    if kind == "extra_forbidden":
        instead = _former(loc, root)
        msg = f"no longer a key: {instead}" if instead else "unknown key"
        suggestion = None if instead else _nearest(loc, root)
    elif kind == "missing":
        msg = "missing key" + (f" (expected {unit})" if unit else "")
    else:
        if msg.startswith("Input should be "):
            rest = msg.removeprefix("Input should be ")
            if rest.startswith(("greater", "less")):
                rest = "a value " + rest
            msg = "expected " + rest
            if unit:
                msg += f" ({unit})"
        elif kind in ("too_long", "too_short") and isinstance(err.get("input"), tuple | list):
            bound = re.search(r"(at (?:most|least) \d+)", err["msg"])
            msg = f"expected {bound.group(1) if bound else 'a different number of'} values" + (
                f" ({unit})" if unit else ""
            )
        got = err.get("input")
        if not isinstance(got, dict | list) and "got" not in msg:
            msg = f"{msg}, got {got!r}"
    if overridden and _contains(overridden, loc if kind != "missing" else loc[:-1]):
        return ScenarioError("--set", msg, key=key, suggestion=suggestion)
    layer = _owner(loc, layers, kind) or (layers[-1] if layers else None)
    file = str(layer.path) if layer else "<scenario>"
    line = find_line(layer.text, loc) if layer else None
    return ScenarioError(file, msg, key=key, line=line, suggestion=suggestion)


_KEYS = re.compile(r"\b([a-z_]+(?:\.[a-z_]+|\[\d+\])+)\b")
_NAMED = re.compile(r'^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\]|\."[^"]+")+): (.*)$', re.S)


def parse_key(path: str) -> tuple[Any, ...]:
    """``"parks.initial[2].opens"`` -> ``("parks", "initial", 2, "opens")``; a quoted part is
    one key (``uncertain."a.b".low`` -> ``("uncertain", "a.b", "low")``)."""
    out: list[Any] = []
    for part in re.findall(r'"[^"]*"|[^.\[\]"]+|\[\d+\]', path):
        if part.startswith("["):
            out.append(int(part[1:-1]))
        elif part.startswith('"'):
            out.append(part[1:-1])
        else:
            out.append(part.strip())
    return tuple(out)


def _contains(data: Any, loc: tuple[Any, ...]) -> bool:
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return False
    return True


def _owner(loc: tuple[Any, ...], layers: list[Layer], kind: str) -> Layer | None:
    """The most derived layer that wrote the key at ``loc`` (or its nearest written parent)."""
    probe = loc[:-1] if kind == "missing" else loc
    for depth in range(len(probe), 0, -1):
        for layer in reversed(layers):
            if _contains(layer.data, probe[:depth]):
                return layer
    return None


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        part = f'"{part}"' if "." in str(part) else str(part)
        out += f".{part}" if out else part
    return out


def _walk(loc: tuple[Any, ...], root: type[BaseModel]) -> tuple[Any, Any]:
    """The pydantic model class holding the last key of ``loc`` and that field's info."""
    model: Any = root
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None, info
        if part not in model.model_fields:
            return model, None
        info = model.model_fields[part]
        model = _inner(info.annotation)
    return model, info


def _inner(annotation: Any) -> Any:
    """Unwrap Optional[...], tuple[X, ...] and dict[K, X] down to X."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _inner(args[0]) if len(args) == 1 else annotation
    if origin is tuple:
        args = typing.get_args(annotation)
        return _inner(args[0]) if len(args) == 2 and args[1] is Ellipsis else annotation
    if origin is dict:
        return _inner(typing.get_args(annotation)[1])
    if origin is typing.Annotated:
        return _inner(typing.get_args(annotation)[0])
    return annotation


def _unit_at(loc: tuple[Any, ...], root: type[BaseModel]) -> str | None:
    _, info = _walk(loc, root)
    extra = getattr(info, "json_schema_extra", None) if info else None
    return extra.get("unit") if isinstance(extra, dict) else None


def _former(loc: tuple[Any, ...], root: type[BaseModel]) -> str | None:
    """What replaced the key at ``loc``, where its table once had it (``FORMER_KEYS``)."""
    model, _ = _walk(loc[:-1], root)
    former = getattr(model, "FORMER_KEYS", None) or {}
    return former.get(str(loc[-1]))


def _nearest(loc: tuple[Any, ...], root: type[BaseModel]) -> str | None:
    model, _ = _walk(loc[:-1], root)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    names = list(model.model_fields)
    match = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return match[0] if match else None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' ]+?)\s*=")


def find_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line of the key at ``loc`` in a TOML text (tables and arrays of tables)."""
    want = tuple(loc)
    counts: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    best: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            parts = parse_key(header.group(2))
            if header.group(1) == "[[":
                index = counts.get(parts, -1) + 1
                counts[parts] = index
                table = (*parts, index)
            else:
                table = parts
            if want[: len(table)] == table:
                best = number
                if len(table) == len(want):
                    return number
            continue
        key = _KEY.match(raw)
        if key:
            parts = parse_key(key.group(1))
            full = (*table, *parts)
            if want[: len(full)] == full or full == want[: len(full)]:
                return number
    return best


def check_priors(scenario: Scenario, layers: list[Layer]) -> None:
    """Every value a prior can give is one the scenario accepts: both ends of its support (a
    large value for an unbounded end) and every value of a choice are written in and the
    scenario validated again, so a prior reaching past a key's range, or past what another key
    allows, is refused naming the prior's table. All priors at their low ends, then all at
    their high ends, are tried together first (two validations, where the checks pass); only
    when one fails is each prior tried alone, to name it."""
    priors = active(scenario.uncertain)
    ends = {path: _ends(prior) for path, prior in priors.items()}

    def accepted(values: dict[str, Any]) -> str | None:
        typed = {path: typed_like(resolve(scenario, path), v) for path, v in values.items()}
        try:
            realise(scenario, typed)
        except ValidationError as exc:
            return exc.errors()[0]["msg"].removeprefix("Value error, ")
        return None

    joint = [accepted({path: e[side][1] for path, e in ends.items()})
             for side in (0, -1)] if priors else []
    inner = [(path, end) for path, e in ends.items() for end in e[1:-1]]
    if not any(joint) and all(accepted({path: end[1]}) is None for path, end in inner):
        if priors:
            check_parameter_sets(scenario, 0, CHECKED_SETS, layers)
        return
    for path, prior in priors.items():
        for which, end in ends[path]:
            reason = accepted({path: end})
            if reason is None:
                continue
            unbounded = abs(end) == _FAR if isinstance(end, float) else False
            message = (f"a {prior.dist} prior without {which} reaches values {path} does not "
                       f"accept ({reason}): give it a {which}" if unbounded else
                       f"the prior's {which} ({end:g}) is outside what {path} accepts: "
                       f"{reason}" if isinstance(end, float | int) and not isinstance(end, bool)
                       else f"the prior's {which} is not accepted at {path}: {reason}")
            loc = ("uncertain", path, *(() if unbounded or isinstance(prior, Choice)
                                         else (which,)))
            owner = _owner(("uncertain", path), layers, "")  # a prior's table is written whole
            raise _at(loc, [owner] if owner else layers, message)
    reason = next(r for r in joint if r)
    raise _at(("uncertain",), layers, "the priors' low ends together, or their high ends "
              f"together, make a scenario that is not valid: {reason}")


def _ends(prior: Any) -> list[tuple[str, Any]]:
    """``(name, value)`` of the values a prior must be checked at: a continuous family's low
    and high ends (a far value where unbounded), every value of a choice."""
    if isinstance(prior, Choice):
        return [(f"value {v!r}", v) for v in prior.values]
    low, high = support(prior)
    return [("low", low if math.isfinite(low) else -_FAR),
            ("high", high if math.isfinite(high) else _FAR)]


def _at(loc: tuple[Any, ...], layers: list[Layer], message: str) -> ScenarioError:
    """An error about the key at ``loc``, blamed on the most derived file that wrote it."""
    layer = _owner(loc, layers, "") or (layers[-1] if layers else None)
    return ScenarioError(str(layer.path) if layer else "<scenario>", message, key=_dotted(loc),
                         line=find_line(layer.text, loc) if layer else None)


_FAR = 1e300

CHECKED_SETS = 32
"""Parameter sets :func:`check_priors` draws and validates (seed 0): a rule across keys that
two priors can be drawn into breaking is found at load, not in a worker."""


def check_parameter_sets(scenario: Scenario, seed: int, sets: int,
                         layers: list[Layer] | None = None) -> None:
    """Parameter sets ``0 .. sets - 1`` under ``seed`` each make a valid scenario; else a
    :class:`ScenarioError` naming the first that does not, and why (priors whose draws can
    break a rule across keys, such as grading thresholds in order)."""
    for k in range(sets):
        try:
            realise(scenario, draw(scenario.uncertain, scenario, seed, k))
        except ValidationError as exc:
            error = exc.errors()[0]
            reason = error["msg"].removeprefix("Value error, ")
            raise _at(("uncertain",), layers or [],
                      f"parameter set {k} (seed {seed}) drawn from the priors is not a valid "
                      f"scenario: {reason}. Priors that can be drawn into values breaking a "
                      "rule across keys need narrower ranges (or one of them fixed)") from None


# --------------------------------------------------------------------------- entry point


def load_with_sources(
    path: str | Path, overrides: typing.Iterable[str] = ()
) -> tuple[Scenario, list[dict[str, str]]]:
    """:func:`load_scenario`, and the files it read (parent first) with their SHA-256, taken
    from the very text that was validated."""
    overrides = list(overrides)
    with warnings.catch_warnings():
        if any(o.split("=", 1)[0].strip() == "name" for o in overrides):
            warnings.simplefilter("ignore", ScenarioWarning)  # --set name=... names it
        data, layers = load_raw(path)
    scenario = validate(data, layers)
    if overrides:
        scenario = validate(
            apply_overrides(data, overrides), layers, overridden=apply_overrides({}, overrides)
        )
    check_priors(scenario, layers)
    return scenario, source_files(layers)


def load_scenario(path: str | Path, overrides: typing.Iterable[str] = ()) -> Scenario:
    """Load, merge and validate a scenario file, then apply and validate overrides.

    Parameters
    ----------
    path
        A TOML scenario file; ``extends`` chains are followed.
    overrides
        ``"path.to.key=value"`` strings, applied after the files are validated.

    Raises
    ------
    ScenarioError
        For any bad input, naming the file (or ``--set``), the key path and what was expected.
    """
    return load_with_sources(path, overrides)[0]


def nearest_name(name: str, names: typing.Iterable[str]) -> str | None:
    """The closest of ``names`` to a mistyped ``name`` (or None)."""
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return match[0] if match else None
