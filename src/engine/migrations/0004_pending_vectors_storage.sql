-- Vectors are float32 bytes, which do not compress: keep PostgreSQL from trying (pglz over every
-- vector was the largest single cost of the hand-off to ClickHouse) and store them out of line
-- as they are.
ALTER TABLE vecsync.pending_vectors ALTER COLUMN vector SET STORAGE EXTERNAL;
