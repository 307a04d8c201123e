// When a schedule fires: a cron string parsed the way Temporal documents its schedule specs.
//
//   [CRON_TZ=<zone> | TZ=<zone>] <spec> [# comment]
//
// <spec> is one of
//   5 fields  minute hour day-of-month month day-of-week
//   6 fields  minute hour day-of-month month day-of-week year
//   7 fields  second minute hour day-of-month month day-of-week year
//   @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly
//   @every <interval>[/<phase>]   e.g. "@every 30m", "@every 1d/2h"; units s, m, h, d
//
// A field is "*" (or "?"), a value, a range "a-b", a step "a/n" (a, a+n, a+2n, … up to the
// field's maximum), "a-b/n" or "*/n", or a comma list of those. Months and days of the week also
// take names (JAN, MON); day-of-week 0 and 7 are both Sunday. As in Temporal, a time matches when
// every field matches: day-of-month and day-of-week together mean "and", not Vixie cron's "or".
//
// Calendar specs match the wall clock of the time zone literally, as Temporal does: on the day
// clocks spring forward a spec for 02:30 does not fire (that time never happens), and on the
// day they fall back a spec for 01:30 fires twice (that time happens twice). `@every` is
// independent of time zones: it fires at the Unix epoch + n × interval + phase.
//
// Thread-compatible value type.
#ifndef VECSYNC_ENGINE_CRON_H_
#define VECSYNC_ENGINE_CRON_H_

#include <bitset>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace vecsync::engine {

inline constexpr int kCronMinYear = 2000;
inline constexpr int kCronMaxYear = 2199;
inline constexpr size_t kMaxCronLength = 1024;

class CronSpec {
 public:
  // Parses `text`. The time zone is the CRON_TZ=/TZ= prefix when present, else
  // `default_time_zone` (an IANA name such as "Europe/Berlin", or "UTC"). INVALID_ARGUMENT
  // saying which field is wrong and why.
  static absl::StatusOr<CronSpec> Parse(absl::string_view text,
                                        absl::string_view default_time_zone = "UTC");

  // The first firing time strictly after `after`; nullopt when there is none (a year list
  // that has passed, or a date that never occurs such as February 30).
  std::optional<absl::Time> Next(absl::Time after) const;

  // The zone the spec is evaluated in ("UTC" when none was given).
  const std::string& time_zone_name() const { return time_zone_name_; }
  bool is_interval() const { return interval_ > absl::ZeroDuration(); }

 private:
  CronSpec() = default;
  bool MatchesDay(const absl::CivilDay& day) const;
  // The first civil second at or after `from` whose fields all match; nullopt past kCronMaxYear.
  std::optional<absl::CivilSecond> NextMatch(absl::CivilSecond from) const;

  std::string time_zone_name_ = "UTC";
  absl::TimeZone zone_ = absl::UTCTimeZone();
  // Calendar specs.
  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // 1..31
  std::bitset<13> months_;         // 1..12
  std::bitset<7> days_of_week_;    // 0 = Sunday
  std::bitset<kCronMaxYear - kCronMinYear + 1> years_;
  // Interval specs (@every).
  absl::Duration interval_ = absl::ZeroDuration();
  absl::Duration phase_ = absl::ZeroDuration();
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_CRON_H_
