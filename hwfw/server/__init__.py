"""`hwfw serve`: the firmware HTTP API, its live streams and the dashboard.

Thin, like the CLI: it authenticates, parses, calls hwfw.api.service.FirmwareService
and answers JSON (problem details for errors). app.py builds the ASGI application,
routes.py and streams.py are the API, auth.py tokens, sessions and roles, openapi.py
the served document, run.py runs it under uvicorn, command.py is `hwfw serve`,
static/ the dashboard (hand-written JavaScript, no asset from the network).
"""
