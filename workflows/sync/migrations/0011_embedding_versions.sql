-- Embedding versions side by side. A domain's vectors are made under an embedding profile (the
-- summarizer and its prompt, the embedding model and its dimensions); a run whose profile
-- differs from the active version's builds a new version beside it, and search answers from the
-- active one until the new one is complete and made active. The ledger therefore describes what
-- ClickHouse holds per embedding version.

-- Every ledger row names its version. Rows recorded before (a failure before anything was synced)
-- belong to the newest version a sync of their domain completed.
UPDATE vecsync.entity_state st SET embedding_version = COALESCE(
  (SELECT max(w.embedding_version) FROM vecsync.sync_watermarks w WHERE w.domain = st.domain), 1)
WHERE embedding_version IS NULL;
ALTER TABLE vecsync.entity_state ALTER COLUMN embedding_version SET NOT NULL;
ALTER TABLE vecsync.entity_state DROP CONSTRAINT entity_state_pkey;
ALTER TABLE vecsync.entity_state ADD PRIMARY KEY (domain, embedding_version, team_id, entity_id);
DROP INDEX vecsync.entity_state_retry;
CREATE INDEX entity_state_retry ON vecsync.entity_state (domain, embedding_version, team_id,
  entity_id) WHERE failures > 0 AND NOT quarantined;
-- An entity across versions: a summary made for one version serves another with the same content.
CREATE INDEX entity_state_by_entity ON vecsync.entity_state (domain, team_id, entity_id);

-- The versions of each domain and the profile each was made under. NULL profile: a version made
-- before profiles were recorded; the first run after the upgrade gives it its own.
CREATE TABLE vecsync.embedding_versions (
  domain            text NOT NULL,
  embedding_version integer NOT NULL,
  summarizer        text,  -- The summarizer's version for the domain's prompt.
  embedder          text,  -- model/dimensions
  state             text NOT NULL CHECK (state IN ('building', 'complete')),
  created_at        timestamptz NOT NULL DEFAULT now(),
  completed_at      timestamptz,
  PRIMARY KEY (domain, embedding_version)
);
INSERT INTO vecsync.embedding_versions (domain, embedding_version, state, completed_at)
SELECT domain, embedding_version, 'complete', watermark FROM vecsync.sync_watermarks;

-- The version search answers from, per domain. Made active, atomically, when a version completes;
-- an operator may make an earlier complete version active again.
CREATE TABLE vecsync.active_versions (
  domain            text PRIMARY KEY,
  embedding_version integer NOT NULL,
  activated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO vecsync.active_versions (domain, embedding_version)
SELECT domain, max(embedding_version) FROM vecsync.sync_watermarks GROUP BY domain;
