-- Personal accounts for the people who use the desk (SQLite flavour; keep
-- in step with ../postgres/). Tokens stay for machines.
--
-- Secrets are stored only as hashes: the password as an Argon2id PHC
-- string, the one-time activation code as its SHA-256. An account has at
-- most one pending code; using it, or resetting again, replaces it.
CREATE TABLE accounts (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    login                 TEXT NOT NULL UNIQUE CHECK (length(login) BETWEEN 3 AND 64),
    display_name          TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    role                  TEXT NOT NULL CHECK (role IN
                              ('coordinator', 'auditor', 'structure_manager', 'structure_staff')),
    structure_id          INTEGER REFERENCES structures (id),
    password_hash         TEXT,
    activation_hash       BLOB UNIQUE CHECK (activation_hash IS NULL OR length(activation_hash) = 32),
    activation_expires_at INTEGER,
    created_at            INTEGER NOT NULL,
    disabled_at           INTEGER,
    -- Structure roles belong to exactly one structure, the others to none.
    CHECK ((role IN ('structure_manager', 'structure_staff')) = (structure_id IS NOT NULL)),
    CHECK ((activation_hash IS NULL) = (activation_expires_at IS NULL))
);
CREATE INDEX accounts_structure ON accounts (structure_id);

-- Failed sign-ins per login, whether or not the login exists, so that a
-- locked login reads the same as an unknown one. Keyed by the SHA-256 of
-- the normalised login; rows are forgotten once their window has passed.
CREATE TABLE sign_in_failures (
    login_hash      BLOB PRIMARY KEY CHECK (length(login_hash) = 32),
    failures        INTEGER NOT NULL CHECK (failures >= 1),
    first_failed_at INTEGER NOT NULL,
    locked_until    INTEGER
);

-- Desk sessions now belong to accounts: the desk no longer opens with a
-- structure token. Sessions are short-lived, so the old ones are dropped
-- (people sign in again after the upgrade) rather than carried over.
DROP TABLE web_sessions;
CREATE TABLE web_sessions (
    id_hash    BLOB PRIMARY KEY CHECK (length(id_hash) = 32),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    -- The synchronizer token every form of this session must carry.
    csrf_token TEXT NOT NULL CHECK (length(csrf_token) BETWEEN 32 AND 64),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at > created_at)
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
CREATE INDEX web_sessions_account ON web_sessions (account_id);

-- Every issue request is a lot, numbered by its issue ledger entry: a
-- lot's vouchers are found by that entry.
CREATE INDEX vouchers_by_lot ON vouchers (issue_entry_id);

-- A voucher's history (who issued it, who voided it and why) is read from
-- its events.
CREATE INDEX events_by_voucher ON events (voucher_id) WHERE voucher_id IS NOT NULL;

-- A structure the coordinator deactivates keeps its history; its people
-- can no longer sign in and its tokens are revoked.
ALTER TABLE structures ADD COLUMN deactivated_at INTEGER;
