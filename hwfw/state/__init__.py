"""What hwfw has done to the fleet (state with lineage and serial), the workspace lock,
and the intent and audit logs, behind one StateBackend (backend.py): local files or
PostgreSQL (settings.backend)."""
