-- Redemption by operators: holds, confirmations, reversals, beneficiary
-- usage for caps, and failed-attempt counters for the brute-force defence.
-- The PostgreSQL flavour in ../postgres/ is the same schema.

CREATE TABLE redemptions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    voucher_id        INTEGER NOT NULL REFERENCES vouchers (id),
    operator_token_id INTEGER NOT NULL REFERENCES tokens (id),
    state             TEXT NOT NULL CHECK (state IN ('reserved', 'confirmed', 'cancelled', 'timed_out', 'reversed')),
    -- HMAC(pepper, E.164 number): never the number itself.
    msisdn_hash       BLOB NOT NULL CHECK (length(msisdn_hash) = 32),
    family            TEXT NOT NULL,
    -- Calendar month of the redemption (UTC), as YYYYMM, for caps.
    period            INTEGER NOT NULL,
    operator_ref      TEXT CHECK (operator_ref IS NULL OR length(operator_ref) <= 64),
    created_at        INTEGER NOT NULL,
    hold_expires_at   INTEGER,
    redeemed_at       INTEGER,
    ended_at          INTEGER,
    -- Whether this redemption counts in beneficiary_usage (a cap applied
    -- to its family when it was made), so that undoing it gives back
    -- exactly what it took.
    counted           INTEGER NOT NULL DEFAULT 0 CHECK (counted IN (0, 1)),
    CHECK ((state = 'reserved') <= (hold_expires_at IS NOT NULL)),
    CHECK ((state IN ('confirmed', 'reversed')) = (redeemed_at IS NOT NULL))
);
-- At most one live redemption per code, whatever the timing: the last line
-- of defence against a double redemption.
CREATE UNIQUE INDEX redemptions_one_live_per_voucher ON redemptions (voucher_id)
    WHERE state IN ('reserved', 'confirmed');
CREATE INDEX redemptions_statement ON redemptions (operator_token_id, redeemed_at, id);
CREATE INDEX redemptions_holds ON redemptions (hold_expires_at) WHERE state = 'reserved';

-- Redemptions per beneficiary, product family and month, for caps.
CREATE TABLE beneficiary_usage (
    msisdn_hash BLOB NOT NULL,
    family      TEXT NOT NULL,
    period      INTEGER NOT NULL,
    count       INTEGER NOT NULL CHECK (count >= 0),
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (msisdn_hash, family, period)
);

-- Failed redemption attempts by source (an operator token, or the whole
-- deployment), shared by every server on the database.
CREATE TABLE failure_counters (
    source       TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL CHECK (failures >= 0),
    lockouts     INTEGER NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    locked_until INTEGER NOT NULL DEFAULT 0
);
