-- Retention: closed HR cases lose what identifies people after `[retention]
-- case_anonymise_days`; anonymised_at records when that happened (NULL: not yet).
-- The runner wraps this file in one transaction: no BEGIN/COMMIT here.

ALTER TABLE cases ADD COLUMN anonymised_at TEXT;

-- The purge looks for closed cases not yet anonymised, oldest closing first.
CREATE INDEX cases_due_anonymise ON cases (closed_at) WHERE anonymised_at IS NULL;
