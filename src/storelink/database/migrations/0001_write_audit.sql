-- The write audit log (storelink/audit.py): one row per idempotency key, one per request sent.
-- The same columns as the embedded store's tables; `seq` orders calls that started in the same instant.
CREATE TABLE write_calls (
    idempotency_key  text PRIMARY KEY,
    connector        text NOT NULL,
    operation        text NOT NULL,
    mode             text NOT NULL,
    params_digest    text NOT NULL,
    summary          text NOT NULL,
    outcome          text NOT NULL,
    error_kind       text,
    error_message    text,
    result           text,
    started_at       double precision NOT NULL,
    finished_at      double precision,
    uses             integer NOT NULL DEFAULT 1,
    replays          integer NOT NULL DEFAULT 0,
    store            text NOT NULL DEFAULT 'default',
    seq              bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX write_calls_started ON write_calls (started_at);

CREATE TABLE write_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key  text NOT NULL,
    connector        text NOT NULL,
    operation        text NOT NULL,
    started_at       double precision NOT NULL,
    finished_at      double precision,
    outcome          text NOT NULL,
    status           integer,
    error_kind       text,
    detail           text,
    request_id       text
);
CREATE INDEX write_attempts_key ON write_attempts (idempotency_key);
