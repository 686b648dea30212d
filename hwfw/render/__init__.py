"""Presentation for people: terminal text (rich), markdown and HTML, live progress views.

Only the top layer imports this package: the CLI and (later) the HTTP server. Nothing
below them draws text for people; they hand over values (plans, inventories, reports)
and events (hwfw/events.py), and the modules here render them:

- plan.py: a plan as terminal text and as markdown (a PR comment);
- inventory.py: an inventory as one table per host;
- compliance.py, compliance_html.py: the fleet compliance report as text, markdown, HTML;
- check.py: `hwfw check` findings as terminal text;
- apply.py, sync.py: live views of an apply run and of a repository sync (event sinks).

Machine formats are data contracts and stay with their data: `Plan.to_json` in plan/,
`Inventory.to_json` in inventory/, check and compliance JSON/JUnit/SARIF in compliance/.
"""
