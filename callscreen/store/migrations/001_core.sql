-- Core schema: the call log, reception tags and the allow/block lists.
-- Every time column is UTC text of fixed width, "YYYY-MM-DDTHH:MM:SS.ffffffZ", so that
-- comparing the text compares the time and range scans on (key, time) indexes work.
-- The runner wraps this file in one transaction: no BEGIN/COMMIT here.

CREATE TABLE calls (
    call_id              TEXT PRIMARY KEY,          -- CALLSCREEN_CALL_ID, or "ami-<linkedid>"
    uniqueid             TEXT NOT NULL DEFAULT '',  -- Uniqueid of the channel that ran the AGI
    linkedid             TEXT,                      -- NULL until AMI reports the call
    started_at           TEXT NOT NULL,
    decided_at           TEXT,
    answered_at          TEXT,
    ended_at             TEXT,
    caller_raw           TEXT NOT NULL DEFAULT '',
    caller_name          TEXT NOT NULL DEFAULT '',
    caller_name_raw      BLOB NOT NULL DEFAULT x'',
    caller_name_encoding TEXT NOT NULL DEFAULT '',
    caller_key           TEXT NOT NULL DEFAULT '',  -- NumberFacts.key: E.164, "svc:95588" or ''
    caller_block         TEXT NOT NULL DEFAULT '',
    caller_kind          TEXT NOT NULL DEFAULT '',
    caller_region        TEXT NOT NULL DEFAULT '',
    caller_carrier       TEXT NOT NULL DEFAULT '',
    did                  TEXT NOT NULL DEFAULT '',
    verdict              TEXT CHECK (verdict IN ('allow', 'flag', 'block')),
    category             TEXT,
    score                INTEGER,
    reasons_json         TEXT NOT NULL DEFAULT '[]',
    facts_json           TEXT,
    decision_source      TEXT CHECK (decision_source IN ('agi', 'ami')),
    decision_ms          REAL,
    answered_by          TEXT NOT NULL DEFAULT '',
    transferred_to       TEXT NOT NULL DEFAULT '',
    talk_seconds         INTEGER NOT NULL DEFAULT 0,
    hangup_cause         INTEGER,
    hangup_cause_text    TEXT NOT NULL DEFAULT '',
    agi_status           TEXT NOT NULL DEFAULT '',
    bridged_json         TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX calls_caller_key_started ON calls (caller_key, started_at);
CREATE INDEX calls_caller_block_started ON calls (caller_block, started_at);
CREATE INDEX calls_started ON calls (started_at);
CREATE INDEX calls_uniqueid ON calls (uniqueid);
CREATE INDEX calls_linkedid ON calls (linkedid);

CREATE TABLE tags (
    id           INTEGER PRIMARY KEY,
    created_at   TEXT NOT NULL,
    call_id      TEXT REFERENCES calls (call_id) ON DELETE SET NULL,
    caller_key   TEXT NOT NULL CHECK (caller_key <> ''),
    caller_block TEXT NOT NULL DEFAULT '',
    tag          TEXT NOT NULL CHECK (tag IN ('collector', 'not_collector', 'employment_check',
                                              'official', 'abusive')),
    employee_id  TEXT,
    note         TEXT NOT NULL DEFAULT '',
    author       TEXT NOT NULL
);

CREATE INDEX tags_caller_key_created ON tags (caller_key, created_at);
CREATE INDEX tags_caller_block_created ON tags (caller_block, created_at);
CREATE INDEX tags_call_id ON tags (call_id);

CREATE TABLE list_entries (
    id         INTEGER PRIMARY KEY,
    list       TEXT NOT NULL CHECK (list IN ('allow', 'block')),
    match      TEXT NOT NULL CHECK (match IN ('exact', 'prefix', 'block')),
    pattern    TEXT NOT NULL CHECK (pattern <> ''),
    note       TEXT NOT NULL DEFAULT '',
    added_by   TEXT NOT NULL,
    added_at   TEXT NOT NULL,
    expires_at TEXT,
    removed_at TEXT,
    removed_by TEXT
);

CREATE INDEX list_entries_active ON list_entries (removed_at, expires_at);
