-- Metric history samples of every replica (observability/history.py): each replica writes its own
-- (its boot), reads the others' by `seq`, and keeps a copy in its embedded store for the charts.
CREATE TABLE metric_history (
    ts            double precision NOT NULL,
    boot          text NOT NULL,
    boot_started  double precision NOT NULL,
    connector     text NOT NULL,
    requests      double precision NOT NULL,
    errors        double precision NOT NULL,
    retries       double precision NOT NULL,
    throttles     double precision NOT NULL,
    p50_ms        double precision,
    p95_ms        double precision,
    p99_ms        double precision,
    counters      text NOT NULL,
    store         text NOT NULL,
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (store, connector, boot, ts)
);
CREATE INDEX metric_history_seq ON metric_history (store, seq);
CREATE INDEX metric_history_ts ON metric_history (ts);
