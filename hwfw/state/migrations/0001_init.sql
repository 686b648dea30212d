-- hwfw state backend, schema version 1.
-- Runs with search_path set to the configured schema (settings.backend.schema), inside
-- one transaction under the migration advisory lock (hwfw/state/postgres/schema.py).

-- One row per workspace sharing this schema (settings.backend.workspace). The id is
-- the second key of the workspace's advisory lock.
CREATE TABLE workspaces (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The state document, byte for byte what the local backend writes to state.json;
-- lineage and serial are copied out of it for the compare-and-set.
CREATE TABLE states (
    workspace_id integer PRIMARY KEY REFERENCES workspaces (id),
    lineage      text NOT NULL,
    serial       bigint NOT NULL,
    body         text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Who holds the workspace lock (advisory locks carry no metadata). A row whose
-- advisory lock is no longer held is stale (its holder's session ended).
CREATE TABLE lock_holders (
    workspace_id integer PRIMARY KEY REFERENCES workspaces (id),
    lock_id      text NOT NULL,
    operation    text NOT NULL,
    who          text NOT NULL,
    pid          integer NOT NULL,
    checkout     text NOT NULL,
    created      text NOT NULL,
    backend_pid  integer NOT NULL
);

-- The intent log, append-only: an intent, later its resolution (same intent_id).
CREATE TABLE intents (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id integer NOT NULL REFERENCES workspaces (id),
    intent_id    text NOT NULL,
    resolves     boolean NOT NULL,
    record       jsonb NOT NULL
);
CREATE INDEX intents_by_intent ON intents (workspace_id, intent_id);

-- The audit log, append-only (schemas/audit.schema.json).
CREATE TABLE audit (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id integer NOT NULL REFERENCES workspaces (id),
    entry        jsonb NOT NULL
);
CREATE INDEX audit_by_workspace ON audit (workspace_id, seq);
