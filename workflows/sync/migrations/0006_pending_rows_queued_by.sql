-- vecsync-legacy-version: 8 (its number when one set held every owner's migrations)
-- The run that queued each row. A run's flushes also insert rows an earlier run queued and did
-- not flush (it failed or was cancelled); they count those apart, as carried over and in the
-- run's total, so that a run's progress never counts more entities done than its total. NULL
-- for rows queued before this column existed: they count as carried over too.
ALTER TABLE vecsync.pending_rows ADD COLUMN queued_by uuid;
