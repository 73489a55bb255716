"""Provenance: what made a set of results -- the model's own source, the libraries, the machine.

Every results directory records these in its manifest, and a sweep's task keys include the
source hash, so results computed by one version of the model are never mixed with, or passed
off as, another's. Kept apart from any one results format, since forecasts, sweeps and
comparisons all name the model that made them.
"""

from __future__ import annotations

import hashlib
import platform
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["LIBRARIES", "library_versions", "platform_name", "source_hash"]

LIBRARIES = ("parksim", "simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "matplotlib")
"""The packages whose versions a manifest records (besides Python's)."""


def source_hash() -> str:
    """SHA-256 of the package's own source files, so results name the exact model that made them."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
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
