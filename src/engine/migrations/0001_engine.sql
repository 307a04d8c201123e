-- vecsync-legacy-version: 1 (its number when one set held every owner's migrations)
-- The durable workflow engine's state. Every state transition writes these tables in one
-- transaction: history events, execution state and new tasks (steps) together.

-- One row per workflow run.
CREATE TABLE vecsync.executions (
  run_id             uuid PRIMARY KEY,
  workflow_id        text NOT NULL,
  workflow_type      text NOT NULL,
  request_id         text,
  status             text NOT NULL CHECK (status IN
                       ('RUNNING', 'COMPLETED', 'FAILED', 'CANCELED', 'TERMINATED', 'TIMED_OUT')),
  input              jsonb NOT NULL,
  result             jsonb,
  failure            jsonb,
  progress           jsonb,
  -- Workflow-defined state saved by WorkflowContext::Checkpoint(); steps with seq below
  -- checkpoint_seq are compacted away, which keeps long runs bounded.
  checkpoint         jsonb,
  checkpoint_seq     bigint NOT NULL DEFAULT 0,
  cancel_requested   boolean NOT NULL DEFAULT false,
  start_time         timestamptz NOT NULL DEFAULT now(),
  close_time         timestamptz,
  execution_deadline timestamptz,
  -- The worker running the workflow code, and the fencing generation of its lease.
  owner              text,
  lease_generation   bigint NOT NULL DEFAULT 0,
  lease_expires_at   timestamptz,
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- The database, not the code, guarantees one running run per workflow_id.
CREATE UNIQUE INDEX executions_one_running ON vecsync.executions (workflow_id)
  WHERE status = 'RUNNING';
CREATE UNIQUE INDEX executions_request_id ON vecsync.executions (workflow_id, request_id)
  WHERE request_id IS NOT NULL;
CREATE INDEX executions_by_request_id ON vecsync.executions (request_id)
  WHERE request_id IS NOT NULL;
CREATE INDEX executions_claimable ON vecsync.executions (lease_expires_at NULLS FIRST)
  WHERE status = 'RUNNING';
CREATE INDEX executions_deadline ON vecsync.executions (execution_deadline)
  WHERE status = 'RUNNING' AND execution_deadline IS NOT NULL;
CREATE INDEX executions_by_workflow_id ON vecsync.executions (workflow_id, start_time DESC);
CREATE INDEX executions_by_start_time ON vecsync.executions (start_time DESC, run_id DESC);

-- The commands a workflow issued, numbered in the order it issued them: activities (which are
-- also the activity task queue), durable timers and recorded markers (side effects).
CREATE TABLE vecsync.steps (
  run_id             uuid NOT NULL,
  seq                bigint NOT NULL,
  kind               text NOT NULL CHECK (kind IN ('activity', 'timer', 'marker')),
  name               text NOT NULL,
  workflow_id        text NOT NULL,
  input              jsonb,
  options            jsonb,
  status             text NOT NULL CHECK (status IN
                       ('SCHEDULED', 'STARTED', 'COMPLETED', 'FAILED', 'CANCELED')),
  result             jsonb,
  -- The final failure once FAILED; the last attempt's failure while retrying.
  failure            jsonb,
  attempt            integer NOT NULL DEFAULT 0,
  -- Fencing generation: bumped on every claim, checked on every write by the claimer.
  generation         bigint NOT NULL DEFAULT 0,
  owner              text,
  -- When a SCHEDULED activity may be claimed (retry backoff), or when a timer fires.
  visible_at         timestamptz,
  lease_expires_at   timestamptz,
  attempt_deadline   timestamptz,
  heartbeat_deadline timestamptz,
  schedule_deadline  timestamptz,
  -- The earliest of the lease, attempt and heartbeat deadlines of a STARTED activity.
  timeout_at         timestamptz,
  heartbeat_details  jsonb,
  cancel_requested   boolean NOT NULL DEFAULT false,
  scheduled_at       timestamptz NOT NULL DEFAULT now(),
  started_at         timestamptz,
  closed_at          timestamptz,
  PRIMARY KEY (run_id, seq)
);

CREATE INDEX steps_ready ON vecsync.steps (visible_at)
  WHERE kind = 'activity' AND status = 'SCHEDULED';
CREATE INDEX steps_schedule_deadline ON vecsync.steps (schedule_deadline)
  WHERE kind = 'activity' AND status = 'SCHEDULED' AND schedule_deadline IS NOT NULL;
CREATE INDEX steps_timeout ON vecsync.steps (timeout_at) WHERE status = 'STARTED';

-- The history of each run, in event_id order.
CREATE TABLE vecsync.history (
  event_id   bigserial PRIMARY KEY,
  run_id     uuid NOT NULL,
  seq        bigint,
  event_type text NOT NULL,
  event_time timestamptz NOT NULL DEFAULT now(),
  attributes jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX history_by_run ON vecsync.history (run_id, event_id);
