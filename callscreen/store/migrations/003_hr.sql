-- HR: which employee each call targeted, confidential cases and their timeline, the audit
-- chain and the notification outbox. Time columns use the fixed-width UTC text of 001_core.sql;
-- leave dates are local calendar dates (YYYY-MM-DD).
-- The runner wraps this file in one transaction: no BEGIN/COMMIT here.

-- One row per call whose target employee is known. Copies of the caller facts live here so
-- that a window query is one range scan on (employee_id, suspected, started_at).
CREATE TABLE call_targets (
    call_id           TEXT PRIMARY KEY REFERENCES calls (call_id) ON DELETE CASCADE,
    employee_id       TEXT NOT NULL CHECK (employee_id <> ''),
    source            TEXT NOT NULL CHECK (source IN ('feedback', 'transfer', 'answer', 'did')),
    started_at        TEXT NOT NULL,
    caller_key        TEXT NOT NULL DEFAULT '',
    caller_block      TEXT NOT NULL DEFAULT '',
    caller_region     TEXT NOT NULL DEFAULT '',
    after_hours       INTEGER NOT NULL DEFAULT 0 CHECK (after_hours IN (0, 1)),
    suspected         INTEGER NOT NULL DEFAULT 0 CHECK (suspected IN (0, 1)),
    reception_seconds INTEGER NOT NULL DEFAULT 0,
    employee_seconds  INTEGER NOT NULL DEFAULT 0,
    linked_at         TEXT NOT NULL
);

CREATE INDEX call_targets_window ON call_targets (employee_id, suspected, started_at);
CREATE INDEX call_targets_month ON call_targets (suspected, started_at);

CREATE TABLE cases (
    id           INTEGER PRIMARY KEY,
    case_no      TEXT NOT NULL UNIQUE,             -- "HR-2026-0007", shown to people
    employee_id  TEXT NOT NULL CHECK (employee_id <> ''),
    status       TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    risk         TEXT NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
    opened_at    TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    closed_at    TEXT,
    signals_json TEXT NOT NULL DEFAULT '{}',       -- the latest anomaly snapshot
    summary      TEXT NOT NULL DEFAULT '',
    approach     TEXT NOT NULL DEFAULT '',
    kb_text      TEXT NOT NULL DEFAULT ''          -- redacted summary and approach, on close
);

-- At most one case per employee that is not closed: a new anomaly updates it.
CREATE UNIQUE INDEX cases_one_active ON cases (employee_id) WHERE status <> 'closed';
CREATE INDEX cases_status_updated ON cases (status, updated_at);

CREATE TABLE case_events (
    id        INTEGER PRIMARY KEY,
    case_id   INTEGER NOT NULL REFERENCES cases (id),
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('opened', 'call', 'anomaly', 'risk_raised', 'note',
                                            'referral', 'leave', 'status', 'closed')),
    author    TEXT NOT NULL,
    call_id   TEXT,
    body_json TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX case_events_case_at ON case_events (case_id, at);
CREATE UNIQUE INDEX case_events_one_call ON case_events (case_id, call_id)
    WHERE call_id IS NOT NULL;

CREATE TABLE referrals (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases (id),
    resource   TEXT NOT NULL CHECK (resource <> ''),
    state      TEXT NOT NULL CHECK (state IN ('offered', 'accepted', 'declined')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT ''
);

CREATE INDEX referrals_case ON referrals (case_id);

CREATE TABLE leave_marks (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    employee_id TEXT NOT NULL,
    start_date  TEXT NOT NULL,
    end_date    TEXT NOT NULL CHECK (end_date >= start_date),
    category    TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE INDEX leave_marks_case ON leave_marks (case_id);
CREATE INDEX leave_marks_dates ON leave_marks (start_date, end_date);

-- Append-only: each row's hash covers its fields and the previous row's hash.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    case_id   INTEGER,
    reason    TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL UNIQUE
);

CREATE INDEX audit_log_case ON audit_log (case_id, id);

-- The triggers stop mistakes through callscreen's own connection; someone who edits the file
-- directly can drop them, which is what `callscreen audit verify` is for.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    dedupe_key      TEXT NOT NULL CHECK (dedupe_key <> ''),
    channel         TEXT NOT NULL,
    payload_json    TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    sent_at         TEXT,
    last_error      TEXT NOT NULL DEFAULT '',
    UNIQUE (dedupe_key, channel)
);

CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
