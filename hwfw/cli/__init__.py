"""The `hwfw` command line. Thin: parse options, call hwfw.api, render with hwfw.render, exit.

Exit codes: 0 success; 1 error or findings; 2 changes pending (only with
--detailed-exitcode); 130 interrupted.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click
from rich.markup import escape

from hwfw import __version__
from hwfw.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, WORKSPACE_HELP, AppContext, examples, stderr_console
from hwfw.errors import ConfigError, HwfwError, Interrupted
from hwfw.logs import configure, redactor

# Each command lives in hwfw/cli/<module>.py and registers itself on `cli` when that
# module is imported. Modules are imported only when their command runs (or help lists
# it), so `hwfw validate` does not pay for the simulator's or the HTTP stack's imports.
COMMAND_MODULES = {
    "validate": "validate", "inventory": "inventory", "plan": "plan", "apply": "apply",
    "state": "state", "repo": "repo", "check": "check", "compliance": "compliance", "sim": "sim",
    "worker": "worker", "run": "run", "token": "token", "notify": "notify",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in set(self.commands) | set(COMMAND_MODULES)
                      if self.get_command(ctx, name) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            module = f"hwfw.cli.{COMMAND_MODULES[name]}"
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:  # a command still being built is simply absent
                    raise
        return self.commands.get(name)


@examples("hwfw validate examples/lab",
          "hwfw -C examples/lab plan --out plan.json",
          "hwfw apply --plan plan.json",
          "hwfw state list -C examples/lab")
@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="hwfw", message="%(prog)s %(version)s")
@click.option("-C", "--workspace", "workspace", type=click.Path(file_okay=False, path_type=Path),
              default=None, help=WORKSPACE_HELP.replace("also accepted before", "also accepted after"))
@click.option("-v", "--verbose", count=True, help="More diagnostics on stderr: -v info, -vv debug.")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write debug diagnostics (credentials redacted) to this file.")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None, verbose: int, log_file: Path | None) -> None:
    """Declarative firmware management for server fleets.

    Declare baselines in YAML, `hwfw plan` to see what would change, `hwfw apply` to
    change it. Every command that reads a workspace takes it as `-C DIR` (before or
    after the command) or as its DIRECTORY argument. Exit codes: 0 ok, 1 error or
    findings, 2 changes pending (with --detailed-exitcode), 130 interrupted.
    """
    configure(verbose, log_file)
    ctx.obj = AppContext(verbosity=verbose, log_file=log_file)
    ctx.obj.give_workspace("-C before the command", workspace)


def _report_error(exc: HwfwError) -> None:
    console = stderr_console()
    if isinstance(exc, Interrupted):
        console.print(f"[red]Interrupted:[/red] {escape(redactor(exc.message))}")
        return
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            color = "red" if problem.severity == "error" else "yellow"
            text = escape(redactor(problem.render()))
            head, _, rest = text.partition(": ")
            console.print(f"{head}: [{color}]{rest}[/{color}]" if problem.location else f"[{color}]{text}[/{color}]")
        errors = sum(1 for p in exc.problems if p.severity == "error")
        console.print(f"[red]Error:[/red] {errors} problem(s) found")
        if exc.hint:
            console.print(f"  hint: {escape(exc.hint)}")
        return
    console.print(f"[red]Error:[/red] {escape(redactor(str(exc)))}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: never a traceback for errors hwfw understands."""
    try:
        rc = cli.main(args=argv, prog_name="hwfw", standalone_mode=False)
    except click.exceptions.Abort:
        stderr_console().print("[red]Aborted.[/red]")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code != 2 else EXIT_ERROR)
    except HwfwError as exc:
        _report_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        stderr_console().print("[red]Interrupted.[/red]")
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)

