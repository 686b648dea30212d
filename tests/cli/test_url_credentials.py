"""A password in a BMC URL: refused by every command that loads the workspace, at its
file:line:col, and never printed; the redactor masks any URL's user-info."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwfw.logs import redactor
from tests.compliance.support import hwfw
from tests.helpers import edit, line_col_of

SECRET = "S3cret-in-url"


@pytest.mark.parametrize("command", [("validate",), ("check",), ("plan",), ("inventory",), ("compliance",)])
def test_every_command_refuses_a_bmc_url_with_a_password_without_printing_it(lab_copy: Path,
                                                                              command: tuple[str, ...]) -> None:
    edit(lab_copy / "inventory.yaml", "  - name: lab-gen-02\n    bmc: sim://lab-gen-02",
         f"  - name: real-01\n    bmc: https://admin:{SECRET}@10.0.0.1\n"
         "    credentials: {username_env: U, password_env: P}\n"
         "  - name: lab-gen-02\n    bmc: sim://lab-gen-02")
    run = hwfw(*command, str(lab_copy))
    assert run.code == 1, run.stdout + run.stderr
    assert SECRET not in run.stdout + run.stderr
    line, col = line_col_of(lab_copy / "inventory.yaml", "https://admin")
    assert f"inventory.yaml:{line}:{col}" in run.stdout + run.stderr


@pytest.mark.parametrize(("text", "shown"), [
    ("GET https://admin:pw@10.0.0.1/redfish/v1", "GET https://***@10.0.0.1/redfish/v1"),
    ("from https://deploy-token@mirror.example/x.bin", "from https://***@mirror.example/x.bin"),
    ("ftp://u:p@h/f and sftp://k@h2", "ftp://***@h/f and sftp://***@h2"),
    ("{'url': 'http://u:p@h:8080/'}", "{'url': 'http://***@h:8080/'}"),
    ("https://host/path@v2.bin", "https://host/path@v2.bin"),  # an @ in the path is not user-info
    ("mail ops@example.com", "mail ops@example.com"),
])
def test_the_redactor_masks_url_user_info_of_any_scheme(text: str, shown: str) -> None:
    assert redactor(text) == shown
