-- OAuth tokens kept for replicas (database/tokens.py): sealed with STORELINK_SECRET_KEY (Fernet),
-- never in clear. One row per store, provider and credential identity (a fingerprint, never a secret).
CREATE TABLE oauth_tokens (
    store          text NOT NULL,
    provider       text NOT NULL,
    identity       text NOT NULL,
    access_token   text NOT NULL,
    refresh_token  text,
    expires_at     double precision NOT NULL,
    scope          text NOT NULL DEFAULT '',
    updated_at     double precision NOT NULL,
    PRIMARY KEY (store, provider, identity)
);
