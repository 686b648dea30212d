"""The shipped default repository lists the simulator's lab images with their real sha256."""

from __future__ import annotations

import hashlib

import yaml_rs

from tests.helpers import REPO_ROOT


def test_default_repository_digests_match_the_image_files() -> None:
    doc = yaml_rs.loads((REPO_ROOT / "configs/firmware/firmware_repository.yaml").read_text())
    assert len(doc["images"]) >= 17
    for entry in doc["images"]:
        data = (REPO_ROOT / entry["source"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["id"]
        assert len(data) == entry["size"], entry["id"]
