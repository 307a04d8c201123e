// The cron parser against a table of expressions and times, DST transitions included, and every
// kind of bad input.
#include "src/engine/cron.h"

#include <gtest/gtest.h>

#include <vector>

namespace vecsync::engine {
namespace {

absl::Time At(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << rfc3339 << ": " << err;
  return t;
}

std::string Show(std::optional<absl::Time> t) {
  return t ? absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *t, absl::UTCTimeZone()) : "never";
}

struct Case {
  const char* spec;
  const char* after;
  std::vector<const char*> next;  // The firings that follow, in order ("never" ends).
};

TEST(CronTest, NextFiringTimes) {
  const std::vector<Case> cases = {
      {"*/15 * * * *",
       "2026-01-01T00:07:00Z",
       {"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z",
        "2026-01-01T01:00:00Z"}},
      {"0 9 * * MON-FRI",
       "2026-11-20T10:00:00Z",  // A Friday after 9:00.
       {"2026-11-23T09:00:00Z", "2026-11-24T09:00:00Z"}},
      {"0 9 * * mon-fri", "2026-11-20T08:59:59Z", {"2026-11-20T09:00:00Z"}},
      {"5,10-12 3 * * *",
       "2026-05-01T00:00:00Z",
       {"2026-05-01T03:05:00Z", "2026-05-01T03:10:00Z", "2026-05-01T03:11:00Z",
        "2026-05-01T03:12:00Z", "2026-05-02T03:05:00Z"}},
      {"10/20 * * * *",
       "2026-05-01T00:00:00Z",  // 10, 30, 50.
       {"2026-05-01T00:10:00Z", "2026-05-01T00:30:00Z", "2026-05-01T00:50:00Z",
        "2026-05-01T01:10:00Z"}},
      {"0-30/15 8 * * *",
       "2026-05-01T00:00:00Z",
       {"2026-05-01T08:00:00Z", "2026-05-01T08:15:00Z", "2026-05-01T08:30:00Z",
        "2026-05-02T08:00:00Z"}},
      {"@hourly", "2026-11-21T10:30:00Z", {"2026-11-21T11:00:00Z", "2026-11-21T12:00:00Z"}},
      {"@daily", "2026-11-21T10:30:00Z", {"2026-11-22T00:00:00Z"}},
      {"@midnight", "2026-11-21T10:30:00Z", {"2026-11-22T00:00:00Z"}},
      {"@weekly", "2026-11-21T12:00:00Z", {"2026-11-22T00:00:00Z", "2026-11-29T00:00:00Z"}},
      {"@monthly", "2026-11-21T12:00:00Z", {"2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
      {"@yearly", "2026-11-21T12:00:00Z", {"2027-01-01T00:00:00Z"}},
      {"@annually", "2026-11-21T12:00:00Z", {"2027-01-01T00:00:00Z"}},
      // Sunday as 0 and as 7; months by name.
      {"0 0 * * 7", "2026-11-21T12:00:00Z", {"2026-11-22T00:00:00Z"}},
      {"0 0 * * 0", "2026-11-21T12:00:00Z", {"2026-11-22T00:00:00Z"}},
      {"0 0 1 FEB,aug *", "2026-03-01T00:00:00Z", {"2026-08-01T00:00:00Z", "2027-02-01T00:00:00Z"}},
      // Day-of-month and day-of-week together mean "and" (Temporal): Friday the 13th.
      {"0 0 13 * FRI",
       "2026-01-01T00:00:00Z",
       {"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z", "2026-11-13T00:00:00Z"}},
      // 6 fields end with a year; 7 fields start with seconds.
      {"0 0 1 1 * 2028", "2026-06-01T00:00:00Z", {"2028-01-01T00:00:00Z", "never"}},
      {"0 0 1 1 * 2027-2029/2",
       "2026-06-01T00:00:00Z",
       {"2027-01-01T00:00:00Z", "2029-01-01T00:00:00Z", "never"}},
      {"30 0 12 * * * *", "2026-05-01T12:00:30Z", {"2026-05-02T12:00:30Z"}},
      {"*/20 * * * * * *",
       "2026-05-01T12:00:05Z",
       {"2026-05-01T12:00:20Z", "2026-05-01T12:00:40Z", "2026-05-01T12:01:00Z"}},
      // A step beyond the range (even INT_MAX) is just the start value.
      {"59/2147483647 * * * *",
       "2026-05-01T00:00:00Z",
       {"2026-05-01T00:59:00Z", "2026-05-01T01:59:00Z"}},
      // Dates that never happen.
      {"0 0 30 2 *", "2026-01-01T00:00:00Z", {"never"}},
      {"0 0 31 4 *", "2026-01-01T00:00:00Z", {"never"}},
      {"0 0 29 2 *", "2026-01-01T00:00:00Z", {"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
      // Time zones.
      {"CRON_TZ=America/New_York 0 9 * * *",
       "2026-11-21T12:00:00Z",
       {"2026-11-21T14:00:00Z", "2026-11-22T14:00:00Z"}},
      {"TZ=Asia/Kolkata @daily", "2026-11-21T12:00:00Z", {"2026-11-21T18:30:00Z"}},
      {"CRON_TZ=Europe/Berlin 0 12 * * * # lunch",
       "2026-07-01T00:00:00Z",
       {"2026-07-01T10:00:00Z"}},
      // Spring forward in New York (2026-03-08 02:00 EST → 03:00 EDT): 02:30 does not exist
      // that day, so the action is skipped (Temporal's literal wall-clock matching).
      {"CRON_TZ=America/New_York 30 2 * * *",
       "2026-03-07T12:00:00Z",
       {"2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"}},
      {"CRON_TZ=America/New_York */30 * * * *",
       "2026-03-08T06:15:00Z",
       {"2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"}},
      // Fall back (2026-11-01 02:00 EDT → 01:00 EST): 01:30 happens twice and fires twice.
      {"CRON_TZ=America/New_York 30 1 * * *",
       "2026-10-31T12:00:00Z",
       {"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"}},
      {"CRON_TZ=America/New_York 0 * * * *",
       "2026-11-01T04:30:00Z",  // 00:30 EDT.
       {"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z",
        "2026-11-01T08:00:00Z"}},
      // Starting inside the first 01:xx of the fall-back day still finds the second 01:00.
      {"CRON_TZ=America/New_York 0 1 * * *", "2026-11-01T05:10:00Z", {"2026-11-01T06:00:00Z"}},
      // @every: epoch + n × interval + phase, time zones ignored.
      {"@every 30m", "2026-11-21T10:07:13Z", {"2026-11-21T10:30:00Z", "2026-11-21T11:00:00Z"}},
      {"@every 1d/2h", "2026-11-21T10:00:00Z", {"2026-11-22T02:00:00Z"}},
      {"@every 90s", "2026-11-21T10:00:00Z", {"2026-11-21T10:01:30Z", "2026-11-21T10:03:00Z"}},
      {"CRON_TZ=Asia/Tokyo @every 1h", "2026-11-21T10:20:00Z", {"2026-11-21T11:00:00Z"}},
      {"@every 1h30m", "1970-01-01T00:00:00Z", {"1970-01-01T01:30:00Z"}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CronSpec> spec = CronSpec::Parse(c.spec);
    ASSERT_TRUE(spec.ok()) << c.spec << ": " << spec.status();
    std::optional<absl::Time> t = At(c.after);
    for (const char* expected : c.next) {
      t = spec->Next(*t);
      ASSERT_EQ(Show(t), expected) << c.spec << " after " << c.after;
      if (!t) break;
    }
  }
}

TEST(CronTest, TheScheduleTimeZoneAppliesUnlessThePrefixOverridesIt) {
  auto spec = CronSpec::Parse("0 9 * * *", "Europe/Paris");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->time_zone_name(), "Europe/Paris");
  EXPECT_EQ(Show(spec->Next(At("2026-01-10T00:00:00Z"))), "2026-01-10T08:00:00Z");
  spec = CronSpec::Parse("CRON_TZ=UTC 0 9 * * *", "Europe/Paris");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->time_zone_name(), "UTC");
  EXPECT_EQ(Show(spec->Next(At("2026-01-10T00:00:00Z"))), "2026-01-10T09:00:00Z");
}

TEST(CronTest, DenseSpecsStepThroughATransitionWithoutGapsOrRepeats) {
  // Every 10 s of wall time across the fall-back hour: each instant once, 10 s apart, except
  // that the repeated hour is walked twice (so instants still advance by exactly 10 s).
  auto spec = CronSpec::Parse("CRON_TZ=America/New_York */10 * * * * * *");
  ASSERT_TRUE(spec.ok());
  absl::Time t = At("2026-11-01T04:59:50Z");
  for (int i = 0; i < 1200; ++i) {  // 04:59:50Z to 08:19:50Z, across 06:00Z.
    std::optional<absl::Time> next = spec->Next(t);
    ASSERT_TRUE(next);
    ASSERT_EQ(*next - t, absl::Seconds(10)) << Show(t);
    t = *next;
  }
}

TEST(CronTest, BadSpecsSayWhatIsWrong) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"", "empty"},
      {"   # only a comment", "empty"},
      {"* * * *", "4 fields"},
      {"* * * * * * * *", "8 fields"},
      {"60 * * * *", "minute"},
      {"* 24 * * *", "hour"},
      {"* * 0 * *", "day-of-month"},
      {"* * 32 * *", "day-of-month"},
      {"* * * 13 *", "month"},
      {"* * * JANUARY *", "month"},
      {"* * * * 8", "day-of-week"},
      {"* * * * FUNDAY", "day-of-week"},
      {"5-1 * * * *", "backwards"},
      {"*/0 * * * *", "step"},
      {"*/x * * * *", "step"},
      {",5 * * * *", "empty list element"},
      {"a * * * *", "not a number"},
      {"* * * * * 1999", "year"},
      {"* * * * * 2200", "year"},
      {"61 * * * * * *", "second"},
      {"@sometimes", "shorthand"},
      {"@every", "interval"},
      {"@every 10x", "unit"},
      {"@every 0s", "at least 1s"},
      {"@every 5m/1q", "unit"},
      {"CRON_TZ=Mars/Olympus_Mons * * * * *", "unknown time zone"},
      {"TZ=../../etc/passwd * * * * *", "time zone"},
      {"CRON_TZ=/etc/localtime * * * * *", "time zone"},
      {"CRON_TZ=", "time zone"},
  };
  for (const auto& [text, why] : cases) {
    absl::StatusOr<CronSpec> spec = CronSpec::Parse(text);
    ASSERT_FALSE(spec.ok()) << "'" << text << "' parsed";
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(spec.status().message().find(why), std::string::npos)
        << "'" << text << "': " << spec.status().message() << " (expected to mention " << why
        << ")";
  }
  EXPECT_FALSE(CronSpec::Parse(std::string(kMaxCronLength + 1, '*')).ok());
  EXPECT_EQ(CronSpec::Parse("* * * * *", "Nowhere/Special").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vecsync::engine
