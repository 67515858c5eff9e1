-- relay-topup schema, SQLite flavour. The PostgreSQL flavour in
-- ../postgres/ is the same schema; keep the two in step.
-- Times are Unix seconds (INTEGER). Constraints here are the last line of
-- defence behind the domain rules, not a replacement for them.

CREATE TABLE structures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    external_ref TEXT UNIQUE CHECK (external_ref IS NULL OR length(external_ref) BETWEEN 1 AND 100),
    created_at   INTEGER NOT NULL
);

CREATE TABLE products (
    id                 TEXT PRIMARY KEY,
    family             TEXT NOT NULL,
    resource           TEXT NOT NULL,
    amount             INTEGER NOT NULL CHECK (amount > 0),
    validity_days      INTEGER NOT NULL CHECK (validity_days > 0),
    code_validity_days INTEGER NOT NULL CHECK (code_validity_days > 0),
    label_fr           TEXT NOT NULL,
    label_en           TEXT NOT NULL,
    active             INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at         INTEGER NOT NULL
);

CREATE TABLE grants (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    structure_id   INTEGER NOT NULL REFERENCES structures (id),
    resource       TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount > 0),
    starts_at      INTEGER NOT NULL,
    ends_at        INTEGER CHECK (ends_at IS NULL OR ends_at > starts_at),
    recurrence     TEXT CHECK (recurrence IS NULL OR recurrence = 'monthly'),
    -- Recurring grants: the number and time of the next monthly credit;
    -- next_credit_at is NULL once the grant credits no more.
    next_period    INTEGER NOT NULL DEFAULT 1 CHECK (next_period >= 1),
    next_credit_at INTEGER,
    created_at     INTEGER NOT NULL
);

-- One bucket per credit of a grant (period 0, then one per month if it
-- recurs). Issue draws from the live bucket that lapses first.
CREATE INDEX grants_due ON grants (next_credit_at) WHERE next_credit_at IS NOT NULL;

CREATE TABLE quota_buckets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    grant_id     INTEGER NOT NULL REFERENCES grants (id),
    period       INTEGER NOT NULL CHECK (period >= 0),
    structure_id INTEGER NOT NULL REFERENCES structures (id),
    resource     TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    remaining    INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    credited_at  INTEGER NOT NULL,
    expires_at   INTEGER,
    lapsed_at    INTEGER,
    UNIQUE (grant_id, period)
);
CREATE INDEX quota_buckets_open ON quota_buckets (structure_id, resource) WHERE lapsed_at IS NULL;
CREATE INDEX quota_buckets_to_lapse ON quota_buckets (expires_at) WHERE lapsed_at IS NULL AND expires_at IS NOT NULL;

-- Running totals per structure and resource, kept in the same transaction
-- as each ledger entry; the ledger is the truth they summarise.
CREATE TABLE balances (
    structure_id INTEGER NOT NULL REFERENCES structures (id),
    resource     TEXT NOT NULL,
    granted      INTEGER NOT NULL DEFAULT 0 CHECK (granted >= 0),
    issued       INTEGER NOT NULL DEFAULT 0 CHECK (issued >= 0),
    returned     INTEGER NOT NULL DEFAULT 0 CHECK (returned >= 0),
    lapsed       INTEGER NOT NULL DEFAULT 0 CHECK (lapsed >= 0),
    PRIMARY KEY (structure_id, resource),
    CHECK (granted - issued + returned - lapsed >= 0)
);

CREATE TABLE ledger (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    structure_id INTEGER NOT NULL REFERENCES structures (id),
    resource     TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('grant', 'issue', 'return', 'lapse')),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    -- Return entries name their voucher; an issue entry covers a whole
    -- request, and its vouchers name it (vouchers.issue_entry_id).
    voucher_id   INTEGER,
    bucket_id    INTEGER REFERENCES quota_buckets (id),
    at           INTEGER NOT NULL,
    CHECK ((kind = 'return') = (voucher_id IS NOT NULL))
);
CREATE UNIQUE INDEX ledger_one_return_per_voucher ON ledger (voucher_id) WHERE kind = 'return';
CREATE INDEX ledger_by_structure ON ledger (structure_id, resource, at);

CREATE TABLE vouchers (
    -- key_id * 2^35 + serial: a code names its row, found by primary key.
    -- The CHECK below ties the id to (key_id, serial), so the primary key
    -- is also the "one serial per key" constraint.
    id               INTEGER PRIMARY KEY,
    key_id           INTEGER NOT NULL CHECK (key_id BETWEEN 0 AND 31),
    serial           INTEGER NOT NULL CHECK (serial BETWEEN 0 AND 34359738367),
    structure_id     INTEGER NOT NULL REFERENCES structures (id),
    product_id       TEXT NOT NULL REFERENCES products (id),
    resource         TEXT NOT NULL,
    amount           INTEGER NOT NULL CHECK (amount > 0),
    state            TEXT NOT NULL CHECK (state IN ('issued', 'reserved', 'redeemed', 'voided', 'expired')),
    reference        TEXT CHECK (reference IS NULL OR length(reference) <= 64),
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    state_changed_at INTEGER NOT NULL,
    attestation      TEXT NOT NULL,
    -- The issue entry this voucher's amount is part of: exactly one, by
    -- construction (NOT NULL, one column).
    issue_entry_id   INTEGER NOT NULL REFERENCES ledger (id),
    -- The bucket it drew from; NULL when it drew from several, which are
    -- then listed in voucher_sources.
    bucket_id        INTEGER REFERENCES quota_buckets (id),
    CHECK (id = key_id * 34359738368 + serial),
    CHECK (expires_at > issued_at)
);
CREATE INDEX vouchers_by_structure ON vouchers (structure_id, issued_at DESC, id DESC);
CREATE INDEX vouchers_to_expire ON vouchers (expires_at) WHERE state = 'issued';

-- The buckets of a voucher that drew from more than one, so that a
-- give-back returns to the same buckets (or lapses at once where a bucket
-- has lapsed).
CREATE TABLE voucher_sources (
    voucher_id INTEGER NOT NULL REFERENCES vouchers (id),
    bucket_id  INTEGER NOT NULL REFERENCES quota_buckets (id),
    amount     INTEGER NOT NULL CHECK (amount > 0),
    PRIMARY KEY (voucher_id, bucket_id)
);


CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    structure_id INTEGER,
    voucher_id   INTEGER,
    data         TEXT NOT NULL
);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    hash         BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    role         TEXT NOT NULL CHECK (role IN ('admin', 'structure', 'operator', 'auditor')),
    structure_id INTEGER REFERENCES structures (id),
    label        TEXT CHECK (label IS NULL OR length(label) <= 100),
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    CHECK ((role = 'structure') = (structure_id IS NOT NULL))
);

-- Stored answers for Idempotency-Key: per caller scope and key.
CREATE TABLE idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    response     TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_by_age ON idempotency (created_at);
