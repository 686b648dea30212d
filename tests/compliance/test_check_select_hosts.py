"""`hwfw check` on a baseline that selects hosts by name: messages name what is known of
the hardware (the selected hosts' vendor and model), never "None"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.compliance.support import hwfw
from tests.helpers import edit


@pytest.fixture
def by_name(lab_copy: Path) -> Path:
    edit(lab_copy / "baselines.yaml", 'select: {vendor: generic, models: ["Contoso OpenServer 2"]}',
         "select: {hosts: [lab-gen-01, lab-gen-02]}")
    edit(lab_copy / "baselines.yaml", 'bios: {version: "1.1.0", image: contoso-os2-bios-1.1.0}',
         'bios: {version: "1.1.9"}')
    return lab_copy


def missing_image_messages(ws: Path) -> list[str]:
    run = hwfw("check", str(ws), "--format", "json")
    assert run.code == 1
    return [f["message"] for f in json.loads(run.stdout)["findings"] if f["rule"] == "missing-image"]


def test_the_selected_hosts_give_vendor_and_model(by_name: Path) -> None:
    (message,) = missing_image_messages(by_name)
    assert message.endswith("no bios image of version 1.1.9 for generic Contoso OpenServer 2")


def test_hosts_that_name_neither_vendor_nor_model_never_print_none(by_name: Path) -> None:
    inventory = by_name / "inventory.yaml"
    for n in ("01", "02"):
        edit(inventory, f"    bmc: sim://lab-gen-{n}\n    vendor: generic\n    model: Contoso OpenServer 2\n",
             f"    bmc: sim://lab-gen-{n}\n")
    # no image names the hardware either
    edit(by_name / "baselines.yaml", 'bmc: {version: "2.15.0", image: contoso-os2-bmc-2.15.0}',
         'bmc: {version: "2.15.9"}')
    messages = missing_image_messages(by_name)
    assert len(messages) == 2 and not any("None" in m for m in messages)
    assert all(m.endswith("for any vendor and model") for m in messages)
