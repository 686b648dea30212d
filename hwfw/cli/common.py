"""Conventions every command follows: the workspace, options with one name per meaning,
--format/--json, output streams, running an operation so that Ctrl-C and SIGTERM stop it.

Machine-readable output goes alone to stdout; everything else (logs, warnings,
progress, human errors) goes to stderr.

The workspace is `-C DIR` / `--workspace DIR`, accepted before the command (`hwfw -C
lab plan`) or after it (`hwfw plan -C lab`), or the positional DIRECTORY (`hwfw plan
lab`). Giving two different ones is an error, never a silent choice.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from hwfw.cancel import CancelToken

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130


@dataclass
class AppContext:
    """What the group's options set; `workspace` is None until one is given."""

    workspace: Path | None = None
    verbosity: int = 0
    log_file: Path | None = None
    given: dict[str, Path] = field(default_factory=dict)   # how the workspace was given -> path

    @property
    def err(self) -> Console:
        return stderr_console()

    @property
    def out(self) -> Console:
        return stdout_console()

    def give_workspace(self, how: str, path: Path | None) -> None:
        """Record one way the workspace was given; two that differ are a usage error."""
        if path is None:
            return
        for other_how, other in self.given.items():
            if other.resolve() != path.resolve():
                raise click.UsageError(f"two workspaces given: {other} ({other_how}) and {path} ({how}); "
                                       "give one")
        self.given[how] = path
        self.workspace = path

    @property
    def workspace_dir(self) -> Path:
        return self.workspace if self.workspace is not None else Path(".")


@functools.cache
def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@functools.cache
def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def app_context() -> AppContext:
    app = click.get_current_context().find_object(AppContext)
    assert app is not None
    return app


# ---------------------------------------------------------------- the workspace


def _workspace_option(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    app = ctx.find_object(AppContext)
    if app is not None:
        app.give_workspace("-C after the command", value)
    return value


WORKSPACE_HELP = "Workspace directory (holds hwfw.yaml); also accepted before the command. Default: ."


def workspace_option(func: F) -> F:
    """`-C/--workspace DIR` after the command (the group takes it before the command too)."""
    return click.option("-C", "--workspace", "workspace_after", type=click.Path(file_okay=False, path_type=Path),
                        default=None, expose_value=False, is_eager=True, callback=_workspace_option,
                        help=WORKSPACE_HELP)(func)


def workspace_argument(func: F) -> F:
    """The workspace as `-C DIR` (before or after the command) or the positional DIRECTORY."""

    @click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
    @functools.wraps(func)
    def wrapper(*args: Any, directory: Path | None = None, **kwargs: Any) -> Any:
        app_context().give_workspace("the DIRECTORY argument", directory)
        return func(*args, **kwargs)

    return workspace_option(wrapper)  # type: ignore[return-value]


# ---------------------------------------------------------------- options: one name per meaning


def deprecated_alias(old: str, new: str, dest: str, *, note: str = "", is_flag: bool = False,
                     type: Any = None) -> Callable[[F], F]:
    """A hidden old spelling of an option: it still works, and says once that it is deprecated.

    `dest` is the new option's parameter name; giving both spellings is a usage error."""
    hidden_dest = f"deprecated_{dest}_{old.strip('-').replace('-', '_')}"

    extra: dict[str, Any] = {"is_flag": True, "flag_value": True} if is_flag else {"type": type}

    def decorate(func: F) -> F:
        @click.option(old, hidden_dest, hidden=True, default=None, **extra)
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(hidden_dest)
            if value is not None:
                if kwargs.get(dest) not in (None, (), False):
                    raise click.UsageError(f"{old} and {new} mean the same; give only {new}")
                warn(f"{old} is deprecated{note}; use {new}")
                kwargs[dest] = value
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def insecure_options(func: F) -> F:
    func = click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                        help="CA bundle for BMC certificates (for every host that names none; replaces "
                             "settings.ca_bundle).")(func)
    return click.option("--insecure", is_flag=True,
                        help="Do not verify BMC TLS certificates (prints a warning; a lab only).")(func)


def temporal_options(func: F) -> F:
    """--temporal-address and --namespace (default: settings.temporal of hwfw.yaml)."""
    func = click.option("--namespace", metavar="NS", default=None,
                        help="Temporal namespace (default settings.temporal.namespace, else 'default'; one per "
                             "workspace).")(func)
    return click.option("--temporal-address", metavar="HOST:PORT", default=None,
                        help="Temporal frontend (default settings.temporal.address, else 127.0.0.1:7233).")(func)


def engine_options(func: F) -> F:
    """--engine local|temporal with the Temporal service options."""
    func = temporal_options(func)
    return click.option("--engine", type=click.Choice(["local", "temporal"]), default=None,
                        help="What executes the apply: this process (local) or rollout workflows on Temporal, run "
                             "by hwfw worker processes (default settings.engine, else local).")(func)


def target_option(func: F) -> F:
    return click.option("--target", "targets", multiple=True, metavar="HOST",
                        help="Only hosts matching HOST: a name or a glob (quote it: 'rack1-*'); HOST/COMPONENT "
                             "for one component. Repeatable.")(func)


def exclude_option(func: F) -> F:
    return click.option("--exclude", "exclude", multiple=True, metavar="HOST",
                        help="Leave out hosts matching HOST (a name or a glob). Repeatable.")(func)


def selection_options(func: F) -> F:
    return target_option(exclude_option(func))


def accept_options(func: F) -> F:
    func = click.option("--allow-unreachable", is_flag=True,
                        help="A host that cannot be read (no answer, refused credentials, untrusted "
                             "certificate) is reported and skipped instead of stopping everything.")(func)
    return click.option("--accept-unknown", multiple=True, metavar="HOST:COMPONENT",
                        help="Flash over an unknown or uncomparable current version (HOST may be a glob; "
                             "repeatable).")(func)


def parse_accept(values: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        host, sep, component = value.partition(":")
        if not sep or not host or not component:
            raise click.BadParameter(f"{value!r}: expected HOST:COMPONENT", param_hint="--accept-unknown")
        out.append((host, component))
    return out


def parallelism_option(what: str, default: int | None = None) -> Callable[[F], F]:
    """`-j/--parallelism N`: how many at once, the one name for concurrency."""
    def decorate(func: F) -> F:
        return click.option("-j", "--parallelism", type=click.IntRange(1, 1024), default=default,
                            show_default=default is not None, metavar="N", help=what)(func)
    return decorate


def output_option(help: str) -> Callable[[F], F]:
    """`-o/--output FILE`: write this command's result to a file (`--out` is hwfw plan's
    Terraform-style saved plan, and only that)."""
    def decorate(func: F) -> F:
        func = deprecated_alias("--out", "--output", "output", note=" here (it saves a plan on hwfw plan only)",
                                type=click.Path(dir_okay=False, path_type=Path))(func)
        return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                            metavar="FILE", help=help)(func)
    return decorate


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


def examples(*lines: str) -> Callable[[F], F]:
    """Add the command's `Examples:` block (after its epilog), kept as written."""
    block = "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)

    def decorate(cmd: F) -> F:
        command: click.Command = cmd  # type: ignore[assignment]
        command.epilog = f"{command.epilog}\n\n{block}" if command.epilog else block
        return cmd

    return decorate


# ---------------------------------------------------------------- running an operation


def run(main: Callable[[CancelToken], Awaitable[T]]) -> T:
    """Run one operation of the API on a fresh event loop. SIGINT and SIGTERM become cancel
    requests (hwfw/cancel.py): the first stops it at a safe point with every BMC session
    closed, a second stops in-flight apply steps where they are."""
    token = CancelToken()

    async def body() -> T:
        with cancel_on_signals(token):
            return await main(token)

    return asyncio.run(body())


@contextmanager
def cancel_on_signals(token: CancelToken) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, token.cancel)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
            # The operation is over (its sessions closed, its result in hand): a signal
            # from now on, while the loop shuts down and the result is printed, has
            # nothing left to cancel. Python's default would turn it into a traceback or
            # a death by signal that hides the result.
            signal.signal(sig, _nothing_left_to_cancel)


def _nothing_left_to_cancel(signum: int, frame: object) -> None:
    """Ignores the signal (no logging: a handler may interrupt the logging module's lock)."""


@contextmanager
def interruptible_prompt(token: CancelToken) -> Iterator[None]:
    """While a blocking prompt waits for the terminal the event loop cannot run its signal
    handlers: Ctrl-C then interrupts the prompt itself (KeyboardInterrupt)."""
    loop = asyncio.get_running_loop()
    loop.remove_signal_handler(signal.SIGINT)  # back to Python's default: KeyboardInterrupt
    try:
        yield
    finally:
        loop.add_signal_handler(signal.SIGINT, token.cancel)


# ---------------------------------------------------------------- output


def emit_json(data: Any) -> None:
    """Write one JSON document to stdout (sorted keys, stable)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_text(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    stderr_console().print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)


def warn_insecure(insecure: bool) -> None:
    if insecure:
        warn("--insecure: BMC TLS certificates are NOT verified; anyone on the path can "
             "impersonate a BMC and read its credentials")


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural_word or word + 's')}"
