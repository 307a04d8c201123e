-- vecsync-legacy-version: 9 (its number when one set held every owner's migrations)
-- The hand-off between sync-process and sync-flush becomes one row per sync-process batch, its
-- entities encoded together in `body` (workflows/queued_rows.h). A row per entity cost
-- PostgreSQL an insert, a locked read, a delete and their vacuum per entity: more than the
-- source reads and the sync state together.

-- Before anything else: an older vecsync's flush still holding rows of pending_rows finishes
-- before they are read, and before entity_state is altered (it writes there last).
LOCK TABLE vecsync.pending_rows IN ACCESS EXCLUSIVE MODE;

CREATE TABLE vecsync.pending_batches (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  domain      text NOT NULL,
  queued_by   uuid NOT NULL,  -- The run that queued the batch.
  row_count   integer NOT NULL,
  body        bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
-- A flush takes its own run's batches first, oldest first.
CREATE INDEX pending_batches_by_run ON vecsync.pending_batches (domain, queued_by, id);
-- Summaries compress, but a batch is written once and read once: it stays uncompressed.
ALTER TABLE vecsync.pending_batches ALTER COLUMN body SET STORAGE EXTERNAL;

-- The sync-process and sync-flush attempts that committed their work, with the counts they
-- returned: a retried attempt whose predecessor committed (and then died before it reported)
-- returns those instead of queueing its entities again (a row per entity was replaced by its
-- re-queue; a batch is not) or flushing other batches under its name. Kept while the run runs.
CREATE TABLE vecsync.committed_steps (
  run_id      uuid NOT NULL,
  seq         bigint NOT NULL,
  counts      jsonb NOT NULL,
  PRIMARY KEY (run_id, seq)
);

-- The newest row version flushed for each entity: ClickHouse's `version` of the row last
-- inserted for it, or of one that failed. An entity may now wait in two batches at once (a
-- failed run's and a later run's); entity_state only moves forward, as ClickHouse's rows do.
-- NULL for entities synced before this column.
ALTER TABLE vecsync.entity_state ADD COLUMN row_version bigint;

-- Rows still waiting in the old table are synced again by the next run, which retries them:
-- their summaries are in entity_state already (or cheap to make again), and nothing of them
-- reached ClickHouse. A vecsync from before this migration, still running during an upgrade,
-- finds no table to queue into and fails its attempt, losing nothing.
INSERT INTO vecsync.entity_state AS st (domain, team_id, entity_id, failures, last_error)
SELECT domain, team_id, entity_id, 1, 'queued before an upgrade of vecsync; to be synced again'
FROM vecsync.pending_rows
ON CONFLICT (domain, team_id, entity_id) DO UPDATE SET
  failures = GREATEST(st.failures, 1), quarantined = false, last_error = EXCLUDED.last_error,
  updated_at = now();
DROP TABLE vecsync.pending_rows;
