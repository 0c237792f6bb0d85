-- Reception: console accounts and their sessions, the employee directory and desk phones.
-- Time columns use the same fixed-width UTC text as 001_core.sql.
-- The runner wraps this file in one transaction: no BEGIN/COMMIT here.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE CHECK (username <> ''),
    password_hash TEXT NOT NULL,                   -- argon2id, PHC string format
    role          TEXT NOT NULL CHECK (role IN ('reception', 'hr', 'admin')),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    failed_logins INTEGER NOT NULL DEFAULT 0,      -- consecutive failures since the last success
    locked_until  TEXT,                            -- no login accepted before this time
    created_at    TEXT NOT NULL
);

-- Only hashes of session tokens are stored, so a copy of the file does not log anyone in.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,                   -- sha256 hex of the cookie value
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Replaced as a whole by `callscreen directory import`; tags keep the employee_id text.
CREATE TABLE employees (
    employee_id TEXT PRIMARY KEY CHECK (employee_id <> ''),
    name        TEXT NOT NULL CHECK (name <> ''),
    department  TEXT NOT NULL DEFAULT '',
    extension   TEXT NOT NULL DEFAULT '',
    did         TEXT NOT NULL DEFAULT '',          -- digits only, as dialled from outside
    pinyin      TEXT NOT NULL DEFAULT '',          -- lower case, no spaces: "zhangwei"
    initials    TEXT NOT NULL DEFAULT '',          -- lower case: "zw"
    imported_at TEXT NOT NULL
);

CREATE INDEX employees_extension ON employees (extension);
CREATE INDEX employees_did ON employees (did);
CREATE INDEX employees_initials ON employees (initials);

CREATE TABLE phones (
    extension  TEXT PRIMARY KEY CHECK (extension <> ''),
    model      TEXT NOT NULL CHECK (model IN ('yealink', 'cisco')),
    token_hash TEXT NOT NULL,                      -- sha256 hex of the token in the phone's URL
    created_at TEXT NOT NULL
);
