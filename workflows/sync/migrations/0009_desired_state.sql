-- What a sync converges to is the desired state of a domain: its source rows in scope. Rows
-- leave or enter the scope without their updated_at moving (an organization approves AI data
-- processing, a team is deleted), so the sync keeps, per domain, the teams that were in scope
-- when it last looked, and queues every team that entered or left it for a keyed walk.

-- The teams in scope at the domain's last sync (EntityConfig's SourceScope::teams_sql).
CREATE TABLE vecsync.scope_teams (
  domain   text PRIMARY KEY,
  team_ids bigint[] NOT NULL,
  seen_at  timestamptz NOT NULL DEFAULT now()
);

-- Changes waiting to be synced, coalesced per entity: an entity changed twice before a run
-- takes it waits once. `entity_id` NULL stands for every entity of the team (its scope
-- changed). A change that comes again gets a new `seq`: a run deletes only the changes it
-- saw (seq up to the one it read at its start), so one that came while it ran is kept.
CREATE TABLE vecsync.entity_changes (
  domain     text NOT NULL,
  team_id    bigint NOT NULL,
  entity_id  text,
  seq        bigint NOT NULL,
  -- When the oldest change still waiting here was queued: the queue's age.
  queued_at  timestamptz NOT NULL DEFAULT now(),
  -- When the source committed it, when known (from the change feed): for the commit → ClickHouse
  -- latency.
  committed_at timestamptz
);
CREATE SEQUENCE vecsync.entity_changes_seq;
CREATE UNIQUE INDEX entity_changes_by_entity
  ON vecsync.entity_changes (domain, team_id, entity_id) NULLS NOT DISTINCT;
CREATE INDEX entity_changes_by_seq ON vecsync.entity_changes (domain, seq);

-- The run of each domain that may summarize and embed it: runs of one domain take turns, so
-- that two never pay for the same entity version. A claim whose run has ended is free.
CREATE TABLE vecsync.domain_claims (
  domain     text PRIMARY KEY,
  run_id     uuid NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now()
);
