-- Numeric PINs (PostgreSQL flavour; keep in step with ../sqlite/).
-- A voucher is printed as a v1 code or as a PIN. A PIN's row id is
-- 2^40 + key_id * 2^30 + serial, above every code's, so both formats find
-- their row by primary key and the primary key stays "one serial per key"
-- within each format. A product may prefer PINs: an issue request that
-- names no format takes the product's.

ALTER TABLE vouchers ADD COLUMN format TEXT NOT NULL DEFAULT 'code';
ALTER TABLE vouchers DROP CONSTRAINT vouchers_key_id_check;
ALTER TABLE vouchers DROP CONSTRAINT vouchers_serial_check;
ALTER TABLE vouchers DROP CONSTRAINT vouchers_check;
ALTER TABLE vouchers ADD CONSTRAINT vouchers_id_format CHECK (
    (format = 'code' AND key_id BETWEEN 0 AND 31 AND serial BETWEEN 0 AND 34359738367
        AND id = key_id * 34359738368 + serial)
    OR (format = 'pin' AND key_id BETWEEN 0 AND 9 AND serial BETWEEN 0 AND 999999999
        AND id = 1099511627776 + key_id * 1073741824 + serial)
);

ALTER TABLE products ADD COLUMN format TEXT NOT NULL DEFAULT 'code'
    CHECK (format IN ('code', 'pin'));
