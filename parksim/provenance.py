"""Provenance: what made a set of results -- the model's own source, the libraries, the machine.

Every results directory records these in its manifest, and a sweep's task keys include the
source hash, so results computed by one version of the model are never mixed with, or passed
off as, another's. Kept apart from any one results format, since forecasts, sweeps and
comparisons all name the model that made them.

The source hash covers the modules a simulated number passes through
(:data:`MODEL_MODULES`), not the report, figure or command-line code: editing how results are
shown never makes a sweep or a calibration refuse to resume, nor two forecasts refuse to pair.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["LIBRARIES", "MODEL_MODULES", "identity_of", "library_versions", "platform_name",
           "source_hash", "what_changed"]

LIBRARIES = ("parksim", "simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "matplotlib")
"""The packages whose versions a manifest records (besides Python's)."""


MODEL_MODULES = ("calendar", "execution", "gc_tuning", "io", "metrics", "model", "records",
                 "rng", "scenario")
"""The package's modules and subpackages a task runs through, from reading a scenario to its
row of results. A test holds that everything :mod:`parksim.execution` imports is among them."""


def source_hash(root: Path | None = None) -> str:
    """SHA-256 of the model's source (the ``.py`` files of :data:`MODEL_MODULES` under
    ``root``, the installed package by default), so results name the exact model that made
    them."""
    root = Path(__file__).resolve().parent if root is None else root
    digest = hashlib.sha256()
    files = [p for p in root.rglob("*.py")
             if p.relative_to(root).parts[0].removesuffix(".py") in MODEL_MODULES]
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Python's version and each of :data:`LIBRARIES`' (``"not installed"`` when absent)."""
    out = {"python": sys.version.split()[0]}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def platform_name() -> str:
    """The operating system and machine, as :func:`platform.platform` names them."""
    return platform.platform()


_PARTS = {"package_version": "parksim's version", "source_sha256": "the model's source"}


def identity_of(parts: dict[str, str]) -> str:
    """The identity of a resumable run (a sweep, a calibration): the hash of its ``parts``,
    each a hash or version that must match for a run to continue another."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def what_changed(recorded: dict, current: dict[str, str], labels: dict[str, str]) -> str:
    """Which parts of a resumable run's identity differ between the run a directory holds
    (``recorded``, from its manifest) and the one asked for (``current``), each with both
    values, e.g. ``the model's source changed (this directory: 3f2a..., now: 9c1b...)``.
    ``labels`` names the caller's own parts; a part the directory did not record is not
    claimed to have changed."""
    labels = {**_PARTS, **labels}

    def shown(value: object) -> str:
        text = str(value)
        return text[:16] if len(text) == 64 else text

    changed = [f"{labels.get(key, key)} changed (this directory: {shown(recorded[key])}, "
               f"now: {shown(value)})"
               for key, value in current.items()
               if recorded.get(key) is not None and recorded[key] != value]
    return "; ".join(changed) or ("it was written by an earlier parksim, which did not record "
                                  "what it was made of")
