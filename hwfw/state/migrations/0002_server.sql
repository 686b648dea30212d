-- hwfw serve's records, schema version 2 (hwfw/state/serverstore.py).
-- Runs with search_path set to the configured schema, like 0001. Every row belongs to a
-- workspace row; documents are the JSON of schemas/plan-record, approval, run,
-- api-token and server-audit, copied into columns only where a query needs them.

CREATE TABLE plans (
    workspace_id integer NOT NULL REFERENCES workspaces (id),
    plan_id      text NOT NULL,
    created      text NOT NULL,
    doc          jsonb NOT NULL,
    PRIMARY KEY (workspace_id, plan_id)
);

CREATE TABLE approvals (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id integer NOT NULL REFERENCES workspaces (id),
    plan_id      text NOT NULL,
    doc          jsonb NOT NULL
);
CREATE INDEX approvals_by_plan ON approvals (workspace_id, plan_id, seq);

-- A run's status changes by compare-and-set on version.
CREATE TABLE runs (
    workspace_id integer NOT NULL REFERENCES workspaces (id),
    run_id       text NOT NULL,
    created      text NOT NULL,
    status       text NOT NULL,
    version      integer NOT NULL,
    doc          jsonb NOT NULL,
    PRIMARY KEY (workspace_id, run_id)
);
CREATE INDEX runs_by_created ON runs (workspace_id, created);

-- Append-only, numbered from 1 per run: resuming a stream is WHERE seq > last seen.
CREATE TABLE run_events (
    workspace_id integer NOT NULL REFERENCES workspaces (id),
    run_id       text NOT NULL,
    seq          integer NOT NULL,
    doc          jsonb NOT NULL,
    PRIMARY KEY (workspace_id, run_id, seq)
);

-- Only the digest of a token's secret is stored.
CREATE TABLE api_tokens (
    workspace_id integer NOT NULL REFERENCES workspaces (id),
    token_id     text NOT NULL,
    doc          jsonb NOT NULL,
    PRIMARY KEY (workspace_id, token_id)
);

CREATE TABLE server_audit (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id integer NOT NULL REFERENCES workspaces (id),
    target       text NOT NULL,
    doc          jsonb NOT NULL
);
CREATE INDEX server_audit_by_target ON server_audit (workspace_id, target, seq);
