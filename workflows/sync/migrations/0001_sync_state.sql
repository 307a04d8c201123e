-- vecsync-legacy-version: 2 (its number when one set held every owner's migrations)
-- State of sync-entity-vectors, kept in vecsync's own schema: vecsync only reads the source
-- tables.

-- What was last made of each entity: the hashes decide whether to summarize or embed again.
CREATE TABLE vecsync.entity_state (
  domain             text NOT NULL,
  team_id            bigint NOT NULL,
  entity_id          text NOT NULL,
  source_updated_at  timestamptz,
  -- Hash of the rendered entity and the summarizer's version.
  content_hash       text,
  summary            text,
  summary_hash       text,
  -- Hash of the summary with the embedding model and dimensions of the vector in ClickHouse.
  vector_hash        text,
  embedding_version  integer,
  synced_at          timestamptz,
  deleted            boolean NOT NULL DEFAULT false,
  failures           integer NOT NULL DEFAULT 0,
  last_error         text,
  quarantined        boolean NOT NULL DEFAULT false,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (domain, team_id, entity_id)
);
CREATE INDEX entity_state_retry ON vecsync.entity_state (domain, team_id, entity_id)
  WHERE failures > 0 AND NOT quarantined;
CREATE INDEX entity_state_quarantined ON vecsync.entity_state (domain) WHERE quarantined;

-- Vectors made but not yet inserted into ClickHouse: the hand-off between embedding and the
-- large RowBinary inserts. Rows leave in the same transaction that records them as synced.
CREATE TABLE vecsync.pending_vectors (
  domain             text NOT NULL,
  team_id            bigint NOT NULL,
  entity_id          text NOT NULL,
  vector             bytea NOT NULL,  -- little-endian float32
  text               text NOT NULL,
  properties         jsonb NOT NULL,
  is_deleted         boolean NOT NULL,
  embedding_version  integer NOT NULL,
  row_version        bigint NOT NULL,
  source_updated_at  timestamptz,
  vector_hash        text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (domain, team_id, entity_id)
);

-- Per domain and embedding version: every source row updated up to `watermark` is synced.
CREATE TABLE vecsync.sync_watermarks (
  domain             text NOT NULL,
  embedding_version  integer NOT NULL,
  watermark          timestamptz NOT NULL,
  PRIMARY KEY (domain, embedding_version)
);
