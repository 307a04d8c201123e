-- The outbox of entity changes for subscribers (WatchEntityChanges): one event per entity
-- version written to ClickHouse (embedded, or its properties refreshed) or tombstoned, appended
-- in the transaction that records it in entity_state. Appends to a domain's events are serialized
-- (an advisory lock held to commit), so `seq` order is commit order within a domain, and a
-- subscriber that resumes after the last `seq` it processed misses and repeats nothing.
CREATE TABLE vecsync.entity_events (
  seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  domain            text NOT NULL,
  team_id           bigint NOT NULL,
  entity_id         text NOT NULL,
  tombstone         boolean NOT NULL,
  embedding_version integer NOT NULL,
  row_version       bigint NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entity_events_by_domain ON vecsync.entity_events (domain, seq);
CREATE INDEX entity_events_by_age ON vecsync.entity_events (created_at);

-- Events are kept for a retention window; this records the newest `seq` dropped, so that a
-- subscriber resuming from before it is told it missed events instead of silently skipping them.
CREATE TABLE vecsync.entity_events_pruned (
  only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  upto_seq   bigint NOT NULL
);
