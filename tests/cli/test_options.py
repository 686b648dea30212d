"""The CLI's surface: one name per meaning, -C everywhere, an Examples: block in every help.

Walks every command (the lazy group imports each module); in-process with click's
runner, so it is fast.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hwfw.cli import COMMAND_MODULES, cli

# Commands that read no workspace.
NO_WORKSPACE = {("sim",), ("sim", "make-image"), ("sim", "serve")}


def commands() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command and group, as (path of names, command), the root first."""
    ctx = click.Context(cli)

    def walk(path: tuple[str, ...], cmd: click.Command) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        yield path, cmd
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, name
                yield from walk((*path, name), sub)

    yield from walk((), cli)


ALL = list(commands())


def test_every_command_module_is_walked() -> None:
    assert {p[0] for p, _ in ALL if p} == set(COMMAND_MODULES)


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "hwfw" for p, _ in ALL])
def test_every_help_has_one_examples_block_whose_examples_parse(path: tuple[str, ...],
                                                                command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.count("Examples:") == 1, result.output
    examples = [line.strip() for line in result.output.split("Examples:", 1)[1].splitlines()
                if line.strip().startswith("hwfw ")]
    assert examples, result.output
    for example in examples:
        _parses(example)


def _parses(example: str) -> None:
    """Every option of an example exists on the command (or group) it is given to."""
    words = shlex.split(example)[1:]
    ctx = click.Context(cli)
    cmd: click.Command = cli
    while words:
        options = {opt: p for p in cmd.params if isinstance(p, click.Option) for opt in (*p.opts, *p.secondary_opts)}
        word = words[0]
        if word.startswith("-"):
            if isinstance(cmd, click.Group):
                assert word in options, f"{example}: {cmd.name} has no option {word}"
                words = words[1 if options[word].is_flag or options[word].count else 2:]
                continue
            assert word.split("=", 1)[0] in options, f"{example}: {cmd.name} has no option {word}"
        elif isinstance(cmd, click.Group):
            sub = cmd.get_command(ctx, word)
            assert sub is not None, f"{example}: {cmd.name} has no command {word}"
            cmd = sub
        words = words[1:]
    assert not isinstance(cmd, click.Group), f"{example}: names no command"


@pytest.mark.parametrize(("path", "command"), [(p, c) for p, c in ALL if p and not isinstance(c, click.Group)
                                               and p not in NO_WORKSPACE],
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_workspace_command_takes_dash_c_after_the_command(path: tuple[str, ...], command: click.Command) -> None:
    opts = {opt for p in command.params for opt in p.opts}
    assert {"-C", "--workspace"} <= opts, path


def test_one_name_per_meaning() -> None:
    """--out saves a plan (hwfw plan) and nothing else; concurrency is -j/--parallelism;
    old spellings survive hidden (tests below)."""
    visible: dict[str, set[tuple[str, ...]]] = {}
    for path, command in ALL:
        for p in command.params:
            if isinstance(p, click.Option) and not p.hidden:
                for opt in p.opts:
                    visible.setdefault(opt, set()).add(path)
    assert visible["--out"] == {("plan",)}
    assert "--jobs" not in visible
    assert visible["--parallelism"] == {("plan",), ("apply",), ("repo", "sync")}
    assert visible["--output"] >= {("inventory",), ("check",), ("compliance",), ("sim", "make-image")}
    assert visible["--exclude"] == visible["--target"] == {("inventory",), ("plan",), ("apply",), ("compliance",)}
    assert visible["--allow-unreachable"] == visible["--accept-unknown"] == {("plan",), ("apply",)}
    assert visible["--inventory"] == {("plan",), ("check",), ("compliance",)}


def test_target_and_exclude_say_they_take_globs() -> None:
    for name in ("plan", "apply", "inventory", "compliance"):
        help_text = CliRunner().invoke(cli, [name, "--help"]).output
        target = help_text[help_text.index("--target"):help_text.index("--exclude")]
        assert "glob" in target, name


def test_deprecated_spellings_still_work_and_say_so(lab_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["check", str(lab_copy), "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "--out is deprecated here" in result.stderr and "use --output" in result.stderr
    assert out.read_text().startswith("{")
    both = CliRunner().invoke(cli, ["check", str(lab_copy), "--out", str(out), "--output", str(out)])
    assert both.exit_code == 2 and "mean the same" in both.output
