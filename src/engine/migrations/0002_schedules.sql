-- vecsync-legacy-version: 3 (its number when one set held every owner's migrations)
-- Schedules: start a workflow at the times a cron spec names. The scheduler claims due rows
-- with FOR UPDATE SKIP LOCKED, so several servers share the work and each due time is acted on
-- once; the workflow it starts is named after the schedule and the due time, with a request_id
-- derived from both, so even a scheduler that dies between starting the run and recording it
-- cannot start it twice.
CREATE TABLE vecsync.schedules (
  schedule_id            text PRIMARY KEY,
  cron                   text NOT NULL,
  time_zone              text NOT NULL DEFAULT 'UTC',
  jitter_ms              bigint NOT NULL DEFAULT 0,
  workflow_type          text NOT NULL,
  workflow_input         jsonb NOT NULL DEFAULT '{}',
  execution_timeout_ms   bigint,
  overlap_policy         text NOT NULL DEFAULT 'SKIP',
  catchup_window_ms      bigint NOT NULL,
  paused                 boolean NOT NULL DEFAULT false,
  notes                  text NOT NULL DEFAULT '',
  -- The next due time not yet acted on (before jitter); NULL when the spec fires no more.
  next_nominal_time      timestamptz,
  -- next_nominal_time plus this schedule's jitter for it: when the scheduler acts.
  next_fire_time         timestamptz,
  -- BUFFER_ONE and CANCEL_OTHER: the one due time waiting for the running run to close.
  buffered_nominal_time  timestamptz,
  -- The run of the latest action: what the overlap policy looks at.
  last_workflow_id       text,
  last_run_id            uuid,
  action_count           bigint NOT NULL DEFAULT 0,
  missed_catchup_window  bigint NOT NULL DEFAULT 0,
  overlap_skipped        bigint NOT NULL DEFAULT 0,
  -- The last ten actions: [{schedule_time, actual_time, workflow_id, run_id, manual, error}].
  recent_actions         jsonb NOT NULL DEFAULT '[]',
  -- Bumped by every change of definition or state; UpdateSchedule can require a value.
  conflict_token         bigint NOT NULL DEFAULT 1,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due ON vecsync.schedules (next_fire_time) WHERE NOT paused;
CREATE INDEX schedules_buffered ON vecsync.schedules (schedule_id)
  WHERE buffered_nominal_time IS NOT NULL AND NOT paused;
