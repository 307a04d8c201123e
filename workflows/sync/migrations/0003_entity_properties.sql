-- vecsync-legacy-version: 5 (its number when one set held every owner's migrations)
-- The properties last written to ClickHouse with each entity's vector. Some properties are not
-- part of the text that is summarized (a cohort's count): when only they change, the row is
-- written again with the vector it already has, with no provider call.
ALTER TABLE vecsync.entity_state ADD COLUMN properties jsonb;
