-- vecsync-legacy-version: 4 (its number when one set held every owner's migrations)
-- How vectors wait in vecsync.pending_vectors. They are float32 bytes, which do not compress,
-- and a 1536-dimension one (6 KB) fits in a page: PostgreSQL's default would try pglz on each
-- and then split it into TOAST chunks, and those two were the largest costs of the hand-off
-- to ClickHouse. Instead a row stays whole in its heap page unless it exceeds a page (larger
-- vectors), and then moves out of line uncompressed.
ALTER TABLE vecsync.pending_vectors ALTER COLUMN vector SET STORAGE EXTERNAL;
ALTER TABLE vecsync.pending_vectors SET (toast_tuple_target = 8160);
