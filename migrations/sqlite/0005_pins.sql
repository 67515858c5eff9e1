-- Numeric PINs (SQLite flavour; keep in step with ../postgres/).
-- A voucher is printed as a v1 code or as a PIN. A PIN's row id is
-- 2^40 + key_id * 2^30 + serial, above every code's, so both formats find
-- their row by primary key and the primary key stays "one serial per key"
-- within each format. A product may prefer PINs: an issue request that
-- names no format takes the product's.
--
-- SQLite cannot change a table's CHECK constraints in place, and the
-- rebuild that can must turn foreign keys off, which SQLite allows only
-- outside a transaction, where sqlx never runs a migration. So the
-- vouchers table's CHECK on its id (`vouchers_id_format`, as in
-- PostgreSQL) is put in by `src/storage/sqlite_rebuild.rs`, which runs
-- right after the migrations, in a transaction of its own, whenever the
-- table does not have it yet. Until then no PIN can be stored: the old
-- CHECK refuses every id above 2^40.

ALTER TABLE vouchers ADD COLUMN format TEXT NOT NULL DEFAULT 'code'
    CHECK (format IN ('code', 'pin'));

ALTER TABLE products ADD COLUMN format TEXT NOT NULL DEFAULT 'code'
    CHECK (format IN ('code', 'pin'));
