"""Conventions every command follows: workspace selection, --format/--json, output streams.

Machine-readable output goes alone to stdout; everything else (logs, warnings,
progress, human errors) goes to stderr.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import click
from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130


@dataclass
class AppContext:
    workspace: Path
    verbosity: int = 0
    log_file: Path | None = None

    @property
    def err(self) -> Console:
        return stderr_console()

    @property
    def out(self) -> Console:
        return stdout_console()


@functools.cache
def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@functools.cache
def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def workspace_argument(func: F) -> F:
    """Accept the workspace positionally (`hwfw validate examples/lab`), else -C/--workspace."""

    @click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
    @functools.wraps(func)
    def wrapper(*args: Any, directory: Path | None = None, **kwargs: Any) -> Any:
        app = click.get_current_context().find_object(AppContext)
        assert app is not None
        if directory is not None:
            app.workspace = directory
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def format_option(*extra: str, default: str = "text") -> Callable[[F], F]:
    """`--format text|json|<extra>` plus `--json` as an alias for `--format json`."""
    choices = ["text", "json", *extra]

    def decorate(func: F) -> F:
        @click.option("--format", "output_format", type=click.Choice(choices), default=None,
                      help=f"Output format (default {default}).")
        @click.option("--json", "as_json", is_flag=True, help="Alias for --format json.")
        @functools.wraps(func)
        def wrapper(*args: Any, output_format: str | None, as_json: bool, **kwargs: Any) -> Any:
            if as_json and output_format not in (None, "json"):
                raise click.UsageError("--json conflicts with --format " + str(output_format))
            fmt = "json" if as_json else (output_format or default)
            return func(*args, output_format=fmt, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def app_context() -> AppContext:
    app = click.get_current_context().find_object(AppContext)
    assert app is not None
    return app


def emit_json(data: Any) -> None:
    """Write one JSON document to stdout (sorted keys, stable)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_text(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    stderr_console().print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural_word or word + 's')}"
