-- An operator's dialling instructions for PIN slips, as a USSD pattern in
-- which PIN stands for the twenty digits (`*144*PIN#`). NULL: the slip
-- falls back to the operator's free instructions, then the deployment's.
ALTER TABLE operators ADD COLUMN slip_instructions TEXT
    CHECK (slip_instructions IS NULL OR length(slip_instructions) BETWEEN 5 AND 40);
