"""Every file hwfw reads, as shipped, validates against its JSON Schema (the contract)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml_rs

from hwfw.config.loader import FILE_KINDS
from tests.helpers import REPO_ROOT

SCHEMAS = REPO_ROOT / "schemas"


def schema(kind: str) -> dict:
    return json.loads((SCHEMAS / f"{kind}.schema.json").read_text())


def workspace_files() -> list[tuple[str, Path]]:
    """(kind, path) for every file named by a hwfw.yaml under examples/, and the roots."""
    out = []
    for root in sorted((REPO_ROOT / "examples").rglob("hwfw.yaml")):
        out.append(("hwfw", root))
        named = yaml_rs.loads(root.read_text())["files"]
        for kind in FILE_KINDS:
            if kind in named:
                out.append((kind, root.parent / named[kind]))
    return out


CONFIGS = {
    "compatibility": REPO_ROOT / "configs/firmware/compatibility_matrix.yaml",
    "sequences": REPO_ROOT / "configs/firmware/update_sequences.yaml",
    "repository": REPO_ROOT / "configs/firmware/firmware_repository.yaml",
}


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    files = sorted(SCHEMAS.glob("*.schema.json"))
    assert len(files) >= 6
    for path in files:
        doc = json.loads(path.read_text())
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema", path
        jsonschema.Draft202012Validator.check_schema(doc)


@pytest.mark.parametrize(("kind", "path"), workspace_files(), ids=lambda v: str(v))
def test_example_workspace_files_validate(kind: str, path: Path) -> None:
    if not (SCHEMAS / f"{kind}.schema.json").exists():
        pytest.fail(f"no schema for {kind}")
    jsonschema.validate(yaml_rs.loads(path.read_text()), schema(kind),
                        cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(("kind", "path"), sorted(CONFIGS.items()), ids=lambda v: str(v))
def test_shipped_configs_validate(kind: str, path: Path) -> None:
    jsonschema.validate(yaml_rs.loads(path.read_text()), schema(kind),
                        cls=jsonschema.Draft202012Validator)


def test_every_shipped_config_file_is_checked() -> None:
    shipped = set((REPO_ROOT / "configs/firmware").glob("*.yaml"))
    assert shipped == set(CONFIGS.values())
