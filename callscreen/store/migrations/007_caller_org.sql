-- The organisation a caller named (a collection agency, a court, a bank), as reception typed
-- it with their feedback. Reply scripts show the latest one on the number's next calls.
-- The runner wraps this file in one transaction: no BEGIN/COMMIT here.

ALTER TABLE tags ADD COLUMN caller_org TEXT NOT NULL DEFAULT '';
