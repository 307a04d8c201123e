-- The flush embeds what it inserts: sync-process queues a summarized entity without a vector
-- (NULL), and sync-flush embeds its `text` right before the RowBinary insert, so a 6 KB vector
-- is never written to, logged by, read back from and deleted from PostgreSQL. Rows that keep
-- the vector ClickHouse already holds (only their properties changed) still carry it, and
-- tombstones carry an empty one.
ALTER TABLE vecsync.pending_vectors ALTER COLUMN vector DROP NOT NULL;
