-- Associations and needs: structures form a tree (at most three levels
-- under the coordinator); an association passes quota to its members and
-- takes back what they have not issued; structures report their needs.
--
-- The ledger's new kinds and the quota buckets a transfer credits need new
-- CHECKs, which SQLite makes only by rebuilding those tables with foreign
-- keys off: src/storage/sqlite_rebuild.rs does that right after the
-- migrations. Here go the parts a migration can do.

ALTER TABLE structures ADD COLUMN parent_id INTEGER REFERENCES structures (id);
CREATE INDEX structures_by_parent ON structures (parent_id) WHERE parent_id IS NOT NULL;

-- What a structure asks for; `people` is a count, never names, and the
-- reason is short and documented as not for personal data.
CREATE TABLE needs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    structure_id    INTEGER NOT NULL REFERENCES structures (id),
    operator_id     INTEGER NOT NULL REFERENCES operators (id),
    resource        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    people          INTEGER CHECK (people IS NULL OR people BETWEEN 1 AND 1000000),
    reason          TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 300),
    state           TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'approved', 'declined')),
    approved_amount INTEGER CHECK (approved_amount IS NULL OR (approved_amount > 0 AND approved_amount <= amount)),
    answer          TEXT CHECK (answer IS NULL OR length(answer) BETWEEN 1 AND 300),
    answered_by     TEXT,
    created_at      INTEGER NOT NULL,
    answered_at     INTEGER,
    CHECK ((state = 'open') = (answered_at IS NULL)),
    CHECK ((state = 'approved') = (approved_amount IS NOT NULL)),
    CHECK ((state = 'declined') = (answer IS NOT NULL))
);
CREATE INDEX needs_by_state ON needs (state, created_at, id);
CREATE INDEX needs_by_structure ON needs (structure_id, created_at);

-- One row per movement of quota between an association and a member: an
-- allocation goes down the tree, a claw-back comes back up.
CREATE TABLE transfers (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT NOT NULL CHECK (kind IN ('allocation', 'clawback')),
    from_structure_id INTEGER NOT NULL REFERENCES structures (id),
    to_structure_id   INTEGER NOT NULL REFERENCES structures (id),
    operator_id       INTEGER NOT NULL REFERENCES operators (id),
    resource          TEXT NOT NULL,
    amount            INTEGER NOT NULL CHECK (amount > 0),
    need_id           INTEGER REFERENCES needs (id),
    at                INTEGER NOT NULL,
    CHECK (from_structure_id != to_structure_id)
);
CREATE INDEX transfers_by_member ON transfers (to_structure_id, at);

-- A need approved for a structure without a parent is a grant.
ALTER TABLE grants ADD COLUMN need_id INTEGER REFERENCES needs (id);

-- Balances gain what arrived from the tree and what left for it. Nothing
-- refers to this table, so it is rebuilt here.
CREATE TABLE balances_with_transfers (
    structure_id INTEGER NOT NULL REFERENCES structures (id),
    operator_id  INTEGER NOT NULL REFERENCES operators (id),
    resource     TEXT NOT NULL,
    granted      INTEGER NOT NULL DEFAULT 0 CHECK (granted >= 0),
    issued       INTEGER NOT NULL DEFAULT 0 CHECK (issued >= 0),
    returned     INTEGER NOT NULL DEFAULT 0 CHECK (returned >= 0),
    lapsed       INTEGER NOT NULL DEFAULT 0 CHECK (lapsed >= 0),
    received     INTEGER NOT NULL DEFAULT 0 CHECK (received >= 0),
    sent         INTEGER NOT NULL DEFAULT 0 CHECK (sent >= 0),
    PRIMARY KEY (structure_id, operator_id, resource),
    CHECK (granted + received - sent - issued + returned - lapsed >= 0)
);
INSERT INTO balances_with_transfers (structure_id, operator_id, resource, granted, issued, returned, lapsed)
    SELECT structure_id, operator_id, resource, granted, issued, returned, lapsed FROM balances;
DROP TABLE balances;
ALTER TABLE balances_with_transfers RENAME TO balances;

ALTER TABLE ledger ADD COLUMN transfer_id INTEGER REFERENCES transfers (id);
ALTER TABLE quota_buckets ADD COLUMN transfer_id INTEGER REFERENCES transfers (id);
