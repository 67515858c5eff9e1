-- Operator networks: every product, grant, quota bucket, balance, ledger
-- entry, operator token and redemption belongs to one operator. A database
-- written before networks existed gets one operator for everything it
-- holds (an empty database gets none here: first start seeds its own).

CREATE TABLE operators (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    instructions_fr TEXT CHECK (instructions_fr IS NULL OR length(instructions_fr) <= 200),
    instructions_en TEXT CHECK (instructions_en IS NULL OR length(instructions_en) <= 200),
    created_at      INTEGER NOT NULL
);

INSERT INTO operators (name, created_at)
    SELECT 'Opérateur d''origine', COALESCE((SELECT MAX(at) FROM events), 0)
    WHERE EXISTS (SELECT 1 FROM products) OR EXISTS (SELECT 1 FROM tokens WHERE role = 'operator')
       OR EXISTS (SELECT 1 FROM grants);

-- Its event is written when the service opens the database, in a
-- transaction of its own, so that it is chained like any other.
CREATE TABLE operators_to_record (operator_id BIGINT PRIMARY KEY);
INSERT INTO operators_to_record (operator_id) SELECT id FROM operators;

-- SQLite cannot add a NOT NULL column with a foreign key; the triggers
-- below refuse a row without its operator instead.
ALTER TABLE products ADD COLUMN operator_id INTEGER REFERENCES operators (id);
ALTER TABLE grants ADD COLUMN operator_id INTEGER REFERENCES operators (id);
ALTER TABLE quota_buckets ADD COLUMN operator_id INTEGER REFERENCES operators (id);
ALTER TABLE ledger ADD COLUMN operator_id INTEGER REFERENCES operators (id);
ALTER TABLE tokens ADD COLUMN operator_id INTEGER REFERENCES operators (id);
ALTER TABLE redemptions ADD COLUMN operator_id INTEGER REFERENCES operators (id);

UPDATE products SET operator_id = (SELECT MIN(id) FROM operators);
UPDATE grants SET operator_id = (SELECT MIN(id) FROM operators);
UPDATE quota_buckets SET operator_id = (SELECT MIN(id) FROM operators);
UPDATE ledger SET operator_id = (SELECT MIN(id) FROM operators);
UPDATE tokens SET operator_id = (SELECT MIN(id) FROM operators) WHERE role = 'operator';
UPDATE redemptions SET operator_id = (SELECT MIN(id) FROM operators);

CREATE TRIGGER products_need_operator BEFORE INSERT ON products WHEN NEW.operator_id IS NULL
    BEGIN SELECT RAISE(ABORT, 'products.operator_id is required'); END;
CREATE TRIGGER grants_need_operator BEFORE INSERT ON grants WHEN NEW.operator_id IS NULL
    BEGIN SELECT RAISE(ABORT, 'grants.operator_id is required'); END;
CREATE TRIGGER buckets_need_operator BEFORE INSERT ON quota_buckets WHEN NEW.operator_id IS NULL
    BEGIN SELECT RAISE(ABORT, 'quota_buckets.operator_id is required'); END;
CREATE TRIGGER ledger_needs_operator BEFORE INSERT ON ledger WHEN NEW.operator_id IS NULL
    BEGIN SELECT RAISE(ABORT, 'ledger.operator_id is required'); END;
CREATE TRIGGER redemptions_need_operator BEFORE INSERT ON redemptions WHEN NEW.operator_id IS NULL
    BEGIN SELECT RAISE(ABORT, 'redemptions.operator_id is required'); END;
CREATE TRIGGER operator_tokens_name_operator BEFORE INSERT ON tokens
    WHEN (NEW.role = 'operator') != (NEW.operator_id IS NOT NULL)
    BEGIN SELECT RAISE(ABORT, 'exactly operator tokens name an operator'); END;

-- Balances are per structure, operator and resource: a new primary key,
-- so a new table (nothing refers to it).
CREATE TABLE balances_by_operator (
    structure_id INTEGER NOT NULL REFERENCES structures (id),
    operator_id  INTEGER NOT NULL REFERENCES operators (id),
    resource     TEXT NOT NULL,
    granted      INTEGER NOT NULL DEFAULT 0 CHECK (granted >= 0),
    issued       INTEGER NOT NULL DEFAULT 0 CHECK (issued >= 0),
    returned     INTEGER NOT NULL DEFAULT 0 CHECK (returned >= 0),
    lapsed       INTEGER NOT NULL DEFAULT 0 CHECK (lapsed >= 0),
    PRIMARY KEY (structure_id, operator_id, resource),
    CHECK (granted - issued + returned - lapsed >= 0)
);
INSERT INTO balances_by_operator
    SELECT structure_id, (SELECT MIN(id) FROM operators), resource, granted, issued, returned, lapsed
    FROM balances;
DROP TABLE balances;
ALTER TABLE balances_by_operator RENAME TO balances;

DROP INDEX quota_buckets_open;
CREATE INDEX quota_buckets_open ON quota_buckets (structure_id, operator_id, resource) WHERE lapsed_at IS NULL;
DROP INDEX redemptions_statement;
CREATE INDEX redemptions_statement ON redemptions (operator_id, redeemed_at, id);
CREATE INDEX products_by_operator ON products (operator_id);
