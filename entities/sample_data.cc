#include "entities/sample_data.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace vecsync::entities {

absl::Status CreateSourceTables(PgConnection& conn) {
  return conn.Execute(R"sql(
    CREATE TABLE IF NOT EXISTS posthog_organization (
      id bigint PRIMARY KEY, is_ai_data_processing_approved boolean NOT NULL DEFAULT false);
    CREATE TABLE IF NOT EXISTS posthog_team (
      id bigint PRIMARY KEY, organization_id bigint NOT NULL REFERENCES posthog_organization);
    CREATE TABLE IF NOT EXISTS posthog_action (
      id bigserial PRIMARY KEY, team_id bigint NOT NULL REFERENCES posthog_team,
      name text, description text, steps_json jsonb, deleted boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX IF NOT EXISTS posthog_action_updated_at ON posthog_action (updated_at);
    CREATE TABLE IF NOT EXISTS posthog_cohort (
      id bigserial PRIMARY KEY, team_id bigint NOT NULL REFERENCES posthog_team,
      name text, description text, filters jsonb, is_static boolean NOT NULL DEFAULT false,
      count integer, deleted boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX IF NOT EXISTS posthog_cohort_updated_at ON posthog_cohort (updated_at);
    CREATE TABLE IF NOT EXISTS posthog_eventdefinition (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(), team_id bigint NOT NULL REFERENCES posthog_team,
      name text NOT NULL, description text,
      created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX IF NOT EXISTS posthog_eventdefinition_updated_at
      ON posthog_eventdefinition (updated_at);
  )sql");
}

absl::Status DropSourceTables(PgConnection& conn) {
  return conn.Execute(
      "DROP TABLE IF EXISTS posthog_action, posthog_cohort, posthog_eventdefinition, "
      "posthog_team, posthog_organization CASCADE");
}

absl::Status SeedSourceTables(PgConnection& conn, const SeedOptions& o) {
  if (o.teams < 1) return absl::InvalidArgumentError("--teams must be at least 1");
  if (o.actions < 0 || o.cohorts < 0 || o.event_definitions < 0) {
    return absl::InvalidArgumentError("entity counts must not be negative");
  }
  RETURN_IF_ERROR(CreateSourceTables(conn));
  // Two teams per organization; every fifth organization has not approved AI processing.
  const int64_t base = o.first_team_id - 1;
  RETURN_IF_ERROR(
      conn.Query("INSERT INTO posthog_organization (id, is_ai_data_processing_approved) "
                 "SELECT $2::bigint + g, g % 5 <> 0 "
                 "FROM generate_series(1, ($1::int + 1) / 2) g ON CONFLICT DO NOTHING",
                 o.teams, base)
          .status());
  RETURN_IF_ERROR(conn.Query("INSERT INTO posthog_team (id, organization_id) "
                             "SELECT $2::bigint + g, $2::bigint + (g + 1) / 2 "
                             "FROM generate_series(1, $1::int) g ON CONFLICT DO NOTHING",
                             o.teams, base)
                      .status());
  RETURN_IF_ERROR(conn.Query(R"sql(
    INSERT INTO posthog_action (team_id, name, description, steps_json, deleted, created_at,
                                updated_at)
    SELECT $3::bigint + 1 + g % $2::int,
      (ARRAY['Signed up', 'Clicked upgrade', 'Viewed pricing', 'Started checkout',
             'Invited teammate', 'Created dashboard', 'Exported report', 'Opened settings'])
        [1 + g % 8] || ' #' || g,
      CASE WHEN g % 3 = 0 THEN NULL ELSE
        (ARRAY['Users who complete the sign-up form', 'Clicks on the upgrade call to action',
               'Visits to any pricing page', 'Checkout flow entered from the cart',
               'Teammate invitations sent from the members page'])[1 + g % 5] END,
      jsonb_build_array(
        jsonb_build_object('event', '$autocapture',
          'selector', (ARRAY['button.cta', '#signup-form button[type=submit]', 'a.upgrade',
                             'div.pricing > button'])[1 + g % 4],
          'text', (ARRAY['Sign up', 'Upgrade now', 'Start trial', NULL])[1 + g % 4],
          'text_matching', 'exact',
          'url', (ARRAY['/pricing', '/signup', '/checkout', '/settings/billing'])[1 + g % 4],
          'url_matching', (ARRAY['contains', 'exact', 'regex'])[1 + g % 3]),
        jsonb_build_object('event', (ARRAY['$pageview', 'purchase', 'invite_sent'])[1 + g % 3],
          'href', CASE WHEN g % 2 = 0 THEN '/upgrade?plan=pro' END, 'href_matching', 'contains',
          'properties', jsonb_build_array(jsonb_build_object('key', '$browser',
             'value', (ARRAY['Chrome', 'Firefox', 'Safari'])[1 + g % 3], 'operator', 'exact',
             'type', 'event')))),
      g % 17 = 0,
      now() - interval '30 days',
      now() - (g % 10000) * interval '1 second'
    FROM generate_series(1, $1::bigint) g
  )sql",
                             o.actions, o.teams, base)
                      .status());
  RETURN_IF_ERROR(conn.Query(R"sql(
    INSERT INTO posthog_cohort (team_id, name, description, filters, is_static, count, deleted,
                                created_at, updated_at)
    SELECT $3::bigint + 1 + g % $2::int,
      (ARRAY['Power users', 'Churn risk', 'Trial users', 'Enterprise admins', 'New signups'])
        [1 + g % 5] || ' #' || g,
      CASE WHEN g % 4 = 0 THEN NULL ELSE 'Persons we target in lifecycle campaigns' END,
      jsonb_build_object('properties', jsonb_build_object('type', 'OR', 'values',
        jsonb_build_array(
          jsonb_build_object('type', 'AND', 'values', jsonb_build_array(
            jsonb_build_object('type', 'person', 'key', 'email', 'operator', 'icontains',
                               'value', (ARRAY['@acme.com', '@example.org'])[1 + g % 2]),
            jsonb_build_object('type', 'behavioral', 'key',
                               (ARRAY['$pageview', 'purchase', 'login'])[1 + g % 3],
                               'value', 'performed_event', 'time_value', 1 + g % 30,
                               'time_interval', 'day'))),
          jsonb_build_object('type', 'AND', 'values', jsonb_build_array(
            jsonb_build_object('type', 'person', 'key', 'plan', 'operator', 'exact',
                               'value', (ARRAY['free', 'pro', 'enterprise'])[1 + g % 3])))))),
      g % 7 = 0, (g * 37) % 5000, g % 13 = 0,
      now() - interval '30 days', now() - (g % 10000) * interval '1 second'
    FROM generate_series(1, $1::bigint) g
  )sql",
                             o.cohorts, o.teams, base)
                      .status());
  return conn
      .Query(R"sql(
    INSERT INTO posthog_eventdefinition (team_id, name, description, created_at, updated_at)
    SELECT $3::bigint + 1 + g % $2::int,
      (ARRAY['$pageview', 'signed_up', 'purchase', 'invite_sent', 'dashboard_created',
             'report_exported', 'plan_upgraded', 'login'])[1 + g % 8] || '_' || g,
      CASE WHEN g % 2 = 0 THEN 'Captured when a user ' ||
        (ARRAY['views a page', 'signs up', 'buys a plan', 'invites a teammate'])[1 + g % 4] END,
      now() - interval '30 days', now() - (g % 10000) * interval '1 second'
    FROM generate_series(1, $1::bigint) g
  )sql",
             o.event_definitions, o.teams, base)
      .status();
}

}  // namespace vecsync::entities
