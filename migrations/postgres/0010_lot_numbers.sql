-- People number a structure's lots 1, 2, 3…: a lot's number is how many
-- issue entries its structure has up to it. This index answers that count
-- from the structure's own issue entries only.
CREATE INDEX ledger_issues_by_structure ON ledger (structure_id, id) WHERE kind = 'issue';
