-- Web desk sessions (PostgreSQL flavour; keep in step with ../sqlite/).
-- Only the SHA-256 hash of the session id is stored, as for API tokens: a
-- copy of the database does not let anyone sign in. A session lives only as
-- long as the token it was opened with: lookups join `tokens` and ignore
-- revoked ones.
CREATE TABLE web_sessions (
    id_hash      BYTEA PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    token_id     BIGINT NOT NULL REFERENCES tokens (id),
    structure_id BIGINT NOT NULL REFERENCES structures (id),
    -- The synchronizer token every form of this session must carry.
    csrf_token   TEXT NOT NULL CHECK (length(csrf_token) BETWEEN 32 AND 64),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL CHECK (expires_at > created_at)
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
