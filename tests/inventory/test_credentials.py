"""Credentials references: env vars, password files, YAML/JSON files; errors never leak values."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwfw.config.model import CredentialsRef, Host
from hwfw.errors import CredentialError
from hwfw.inventory.credentials import resolve_credentials
from hwfw.logs import redactor


def h(ref: CredentialsRef | None) -> Host:
    return Host(name="r750-0042", bmc="https://10.0.0.42", credentials=ref)


def test_env_variables() -> None:
    env = {"BMC_USER": "root", "BMC_PW": "calvin-env-pw"}
    assert resolve_credentials(h(CredentialsRef(username_env="BMC_USER", password_env="BMC_PW")), environ=env) == (
        "root", "calvin-env-pw")
    assert redactor("token calvin-env-pw") == "token ***"


def test_literal_username_and_password_file_strips_one_newline(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret-file \n\n")
    assert resolve_credentials(h(CredentialsRef(username="admin", password_file=pw)), environ={}) == (
        "admin", "s3cret-file \n")


@pytest.mark.parametrize("name,text", [("creds.yaml", "username: ops\npassword: yaml-pw-1\n"),
                                       ("creds.json", '{"username": "ops", "password": "yaml-pw-1"}')])
def test_credentials_file(tmp_path: Path, name: str, text: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    assert resolve_credentials(h(CredentialsRef(file=f)), environ={}) == ("ops", "yaml-pw-1")


def test_explicit_fields_win_over_the_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("username: ops\npassword: from-file\n")
    ref = CredentialsRef(username="admin", password_env="PW", file=f)
    assert resolve_credentials(h(ref), environ={"PW": "from-env"}) == ("admin", "from-env")


def test_unset_variable_names_host_and_variable() -> None:
    with pytest.raises(CredentialError) as info:
        resolve_credentials(h(CredentialsRef(username="admin", password_env="NOPE_PW")), environ={})
    assert "'r750-0042'" in str(info.value) and "NOPE_PW" in str(info.value)


def test_unreadable_file_names_host_and_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(CredentialError) as info:
        resolve_credentials(h(CredentialsRef(username="admin", password_file=missing)), environ={})
    assert "'r750-0042'" in str(info.value) and str(missing) in str(info.value)


def test_broken_file_never_quotes_its_content(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("password: [unclosed-secret-value\n")
    with pytest.raises(CredentialError) as info:
        resolve_credentials(h(CredentialsRef(file=f)), environ={})
    assert "unclosed-secret-value" not in str(info.value)


def test_no_reference_gives_none() -> None:
    assert resolve_credentials(h(None), environ={}) == (None, None)
