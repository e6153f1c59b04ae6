-- Dashboard sessions revoked by logout or a new login (web/auth.py). Sessions are signed cookies every
-- replica can check; what one replica revokes must be refused by all, until the cookie expires anyway.
CREATE TABLE session_revocations (
    sid    text PRIMARY KEY,
    until  double precision NOT NULL
);
CREATE INDEX session_revocations_until ON session_revocations (until);
