-- vecsync-legacy-version: 6 (its number when one set held every owner's migrations)
-- A local summarizer's summary reaches entity_state with its vector, in the flush that inserts
-- the vector into ClickHouse: one write of entity_state per entity instead of two. NULL when
-- the summary was recorded already (a provider's, recorded as it arrived) or for rows that
-- carry no new summary (tombstones, refreshed properties).
ALTER TABLE vecsync.pending_vectors ADD COLUMN content_hash text, ADD COLUMN summary_hash text;
