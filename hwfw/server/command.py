"""`hwfw serve`: the server's own command, added to the `hwfw` group by hwfw/__main__.py
(the composition root: the CLI and the server are both front ends and never import each
other). Light at import: uvicorn and FastAPI load only when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.command("serve")
@click.option("-C", "--workspace", "workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The workspace directory (also accepted before the command, or as DIRECTORY).")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Where to listen; default settings.server.listen or 127.0.0.1:8080 (loopback only). "
                   "Port 0 picks a free port (printed).")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="PEM certificate chain: serve HTTPS (default settings.server.tls_cert).")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="PEM private key of --tls-cert (default settings.server.tls_key).")
@click.option("--insecure", is_flag=True, help="Do not verify BMC TLS certificates (a lab only).")
@click.option("--ca-bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="CA bundle for BMC certificates (replaces settings.ca_bundle).")
@click.option("--no-scan", is_flag=True, help="Do not read the fleet when starting (the status stays empty "
                                              "until a live check or a run).")
@click.pass_context
def serve(ctx: click.Context, workspace: Path | None, directory: Path | None, listen: str | None,
          tls_cert: Path | None, tls_key: Path | None, insecure: bool, ca_bundle: Path | None, no_scan: bool) -> None:
    """Serve the firmware API and the dashboard for one workspace.

    Every route but /api/health needs a token: make one with `hwfw token create DIR
    --role viewer|operator|approver --name NAME`. The OpenAPI document is at
    /api/openapi.json, the dashboard at /. Binds 127.0.0.1 unless --listen says
    otherwise; use --tls-cert/--tls-key when it must be reached over a network.

    Examples:

      hwfw token create examples/lab --role operator --name alice

      hwfw serve examples/lab --listen 127.0.0.1:8080
    """
    from .run import serve_workspace

    app: Any = ctx.obj
    if app is not None and hasattr(app, "give_workspace"):
        app.give_workspace("-C after the command", workspace)
        app.give_workspace("the DIRECTORY argument", directory)
        path = app.workspace_dir
    else:
        path = directory or workspace or Path(".")
    serve_workspace(path, listen=listen, tls_cert=tls_cert, tls_key=tls_key, insecure=insecure,
                    ca_bundle=ca_bundle, scan=not no_scan)
