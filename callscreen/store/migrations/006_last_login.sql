-- When each account last gave its correct password (login or HR step-up), so admins can
-- spot accounts nobody uses any more. NULL: never since this column was added.
-- The runner wraps this file in one transaction: no BEGIN/COMMIT here.

ALTER TABLE users ADD COLUMN last_login_at TEXT;
