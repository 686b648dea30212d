"""Locate the data shipped with hwfw: JSON Schemas and default configs.

In a source checkout they are the top-level `schemas/` and `configs/` folders; in an
installed wheel they are copied to `hwfw/_data/` (see pyproject.toml).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """Return the directory holding shipped data `name` (`schemas` or `configs`)."""
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    source = _PACKAGE_DIR.parent / name
    if source.is_dir():
        return source
    raise FileNotFoundError(f"hwfw data folder {name!r} not found next to the package")


def schema_path(kind: str) -> Path:
    """Path of the JSON Schema for a file kind, e.g. `inventory` -> inventory.schema.json."""
    return data_dir("schemas") / f"{kind}.schema.json"


def default_config(name: str) -> Path:
    """Path of a default config file under configs/firmware/."""
    return data_dir("configs") / "firmware" / name
