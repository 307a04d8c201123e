-- vecsync-legacy-version: 7 (its number when one set held every owner's migrations)
-- The flush embeds what it inserts: sync-process queues a summarized entity without a vector
-- (NULL), and sync-flush embeds its `text` right before the RowBinary insert, so a 6 KB vector
-- is never written to, logged by, read back from and deleted from PostgreSQL. Rows that keep
-- the vector ClickHouse already holds (only their properties changed) still carry it, and
-- tombstones carry an empty one.
--
-- The table is renamed with the change: a vecsync from before it, still running during an
-- upgrade, would read a NULL vector as an empty one and insert it. Under the old name it finds
-- no table and fails instead, losing nothing.
ALTER TABLE vecsync.pending_vectors RENAME TO pending_rows;
ALTER INDEX vecsync.pending_vectors_pkey RENAME TO pending_rows_pkey;
ALTER TABLE vecsync.pending_rows ALTER COLUMN vector DROP NOT NULL;
