-- Admin: the retention purge deletes tags by age alone, which the (caller_key, created_at)
-- and (caller_block, created_at) indexes cannot serve without a full scan.
-- The runner wraps this file in one transaction: no BEGIN/COMMIT here.

CREATE INDEX tags_created ON tags (created_at);
