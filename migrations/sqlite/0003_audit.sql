-- The audit trail: a hash chain over the event log, signed checkpoints of
-- its head, and the integrity alarms raised by the running service. The
-- PostgreSQL flavour in ../postgres/ is the same schema.
--
-- `events.seq` is the event's place in the chain: 1, 2, 3, … with no gap.
-- `hash` is SHA-256 over the event's canonical encoding (see
-- src/audit/chain.rs), which includes `prev_hash`, the hash of event
-- seq - 1. `id` only orders rows as they are written; on PostgreSQL an event
-- gets its seq and hash when its transaction is sealed, just before commit,
-- so a committed event always has both.

CREATE TABLE events_chained (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    seq          INTEGER UNIQUE CHECK (seq IS NULL OR seq >= 1),
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    structure_id INTEGER,
    voucher_id   INTEGER,
    data         TEXT NOT NULL,
    prev_hash    TEXT CHECK (prev_hash IS NULL OR length(prev_hash) = 64),
    hash         TEXT CHECK (hash IS NULL OR length(hash) = 64),
    CHECK ((seq IS NULL) = (hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL))
);
-- Existing events keep their order; their chain is computed when the
-- service first opens the database (storage::events::backfill).
INSERT INTO events_chained (id, at, kind, actor, structure_id, voucher_id, data)
    SELECT seq, at, kind, actor, structure_id, voucher_id, data FROM events ORDER BY seq;
DROP TABLE events;
ALTER TABLE events_chained RENAME TO events;
CREATE INDEX events_unsealed ON events (id) WHERE seq IS NULL;

-- The chain's head: the last sealed event. One row, locked by whoever seals.
CREATE TABLE chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash TEXT NOT NULL CHECK (length(hash) = 64)
);
INSERT INTO chain_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed chain heads: Ed25519 over (seq, hash, at) with an attestation key,
-- so that rewriting history before a checkpoint needs the key file.
CREATE TABLE checkpoints (
    seq       INTEGER PRIMARY KEY CHECK (seq >= 1),
    hash      TEXT NOT NULL CHECK (length(hash) = 64),
    at        INTEGER NOT NULL,
    key_id    INTEGER NOT NULL,
    signature TEXT NOT NULL
);

-- Breaches found by the service's periodic integrity check. While one is
-- not acknowledged by an admin, issuing and redemption are refused.
CREATE TABLE integrity_alarms (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    raised_at        INTEGER NOT NULL,
    findings         TEXT NOT NULL,
    acknowledged_at  INTEGER,
    acknowledged_by  TEXT
);
CREATE INDEX integrity_alarms_open ON integrity_alarms (id) WHERE acknowledged_at IS NULL;
