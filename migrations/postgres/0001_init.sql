-- crmbot's PostgreSQL schema: what sled keeps in trees, as tables every replica shares.

-- Typed records by tree (actions, thread plans, ...). `revision` grows by one on every
-- change: a change is `UPDATE ... WHERE tree = $1 AND id = $2 AND revision = $3`.
CREATE TABLE records (
    tree      TEXT    NOT NULL,
    id        TEXT    NOT NULL,
    revision  BIGINT  NOT NULL,
    value     TEXT    NOT NULL,
    open      BOOLEAN NOT NULL,
    closed_at BIGINT,
    PRIMARY KEY (tree, id)
);
CREATE INDEX records_open ON records (tree, id) WHERE open;
CREATE INDEX records_closed ON records (tree, closed_at) WHERE NOT open;

-- The audit chain: one row per record, `record` the AuditRecord as JSON (as sled keeps it).
CREATE TABLE audit (
    seq    BIGINT PRIMARY KEY,
    record TEXT   NOT NULL
);
-- The chain head: one row, locked by every append, so replicas extend ONE chain.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL,
    hash TEXT    NOT NULL
);
-- SHA-256 of a prompt -> the record holding its text.
CREATE TABLE audit_prompts (
    sha256 TEXT   PRIMARY KEY,
    seq    BIGINT NOT NULL
);

-- Slack event ids already handled (a retry, or the same event at another replica).
CREATE TABLE seen_events (
    event_id TEXT   PRIMARY KEY,
    at       BIGINT NOT NULL
);

-- Jobs one replica at a time runs (expiry, housekeeping, start-up reconcile).
CREATE TABLE leases (
    name   TEXT   PRIMARY KEY,
    holder TEXT   NOT NULL,
    until  BIGINT NOT NULL
);
