#include "src/engine/cron.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace vecsync::engine {
namespace {

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// One field's rules: its name in errors, its range and its value names (index + first_name).
struct FieldRule {
  const char* name;
  int min;
  int max;
  const char* const* names = nullptr;
  int name_count = 0;
  int first_name = 0;
};

constexpr FieldRule kSecond{"second", 0, 59};
constexpr FieldRule kMinute{"minute", 0, 59};
constexpr FieldRule kHour{"hour", 0, 23};
constexpr FieldRule kDayOfMonth{"day-of-month", 1, 31};
constexpr FieldRule kMonth{"month", 1, 12, kMonthNames, 12, 1};
// 0..7 so that 7 can mean Sunday too; folded onto 0 after parsing.
constexpr FieldRule kDayOfWeek{"day-of-week", 0, 7, kDayNames, 7, 0};
constexpr FieldRule kYear{"year", kCronMinYear, kCronMaxYear};

absl::Status FieldError(const FieldRule& rule, absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("cron ", rule.name, " field '", field, "': ", why));
}

absl::StatusOr<int> ParseValue(const FieldRule& rule, absl::string_view field,
                               absl::string_view token) {
  int value = 0;
  if (absl::SimpleAtoi(token, &value)) {
    if (value < rule.min || value > rule.max) {
      return FieldError(rule, field, absl::StrCat(value, " is outside ", rule.min, "-", rule.max));
    }
    return value;
  }
  for (int i = 0; i < rule.name_count; ++i) {
    if (absl::EqualsIgnoreCase(token, rule.names[i])) return rule.first_name + i;
  }
  return FieldError(
      rule, field,
      absl::StrCat("'", token, "' is not a number", rule.name_count > 0 ? " or a name" : ""));
}

// Parses one field into a set of values, index = value.
absl::StatusOr<std::vector<bool>> ParseField(const FieldRule& rule, absl::string_view field) {
  std::vector<bool> set(rule.max + 1, false);
  if (field.empty()) return FieldError(rule, field, "empty");
  for (absl::string_view part : absl::StrSplit(field, ',')) {
    if (part.empty()) return FieldError(rule, field, "empty list element");
    absl::string_view base = part;
    int step = 1;
    bool has_step = false;
    if (size_t slash = part.find('/'); slash != absl::string_view::npos) {
      base = part.substr(0, slash);
      if (!absl::SimpleAtoi(part.substr(slash + 1), &step) || step < 1) {
        return FieldError(
            rule, field,
            absl::StrCat("step '", part.substr(slash + 1), "' is not a positive number"));
      }
      has_step = true;
    }
    int low = rule.min, high = rule.max;
    if (base == "*" || base == "?") {
      // The whole range.
    } else if (size_t dash = base.find('-'); dash != absl::string_view::npos) {
      absl::StatusOr<int> a = ParseValue(rule, field, base.substr(0, dash));
      if (!a.ok()) return a.status();
      absl::StatusOr<int> b = ParseValue(rule, field, base.substr(dash + 1));
      if (!b.ok()) return b.status();
      if (*b < *a) {
        return FieldError(rule, field, absl::StrCat("range ", base, " runs backwards"));
      }
      low = *a;
      high = *b;
    } else {
      absl::StatusOr<int> a = ParseValue(rule, field, base);
      if (!a.ok()) return a.status();
      low = *a;
      high = has_step ? rule.max : *a;
    }
    for (int v = low;; v += step) {
      set[v] = true;
      if (high - v < step) break;  // Also keeps a huge step from overflowing v.
    }
  }
  return set;
}

template <size_t N>
absl::Status FillBits(const FieldRule& rule, absl::string_view field, int offset,
                      std::bitset<N>* bits) {
  absl::StatusOr<std::vector<bool>> set = ParseField(rule, field);
  if (!set.ok()) return set.status();
  bits->reset();
  for (int v = rule.min; v <= rule.max; ++v) {
    if ((*set)[v]) bits->set(v - offset);
  }
  return absl::OkStatus();
}

// "90s", "30m", "1h30m", "2d", "1d12h": numbers with units s, m, h, d.
absl::StatusOr<absl::Duration> ParseEveryDuration(absl::string_view text) {
  absl::Duration total = absl::ZeroDuration();
  absl::string_view rest = text;
  if (rest.empty()) return absl::InvalidArgumentError("@every needs an interval, e.g. @every 30m");
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[digits]))) {
      ++digits;
    }
    int64_t n = 0;
    if (digits == 0 || digits == rest.size() || digits > 9 ||
        !absl::SimpleAtoi(rest.substr(0, digits), &n)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "@every '", text, "' is not a duration (units s, m, h, d; e.g. 30m, 1h30m, 1d)"));
    }
    switch (rest[digits]) {
      case 's':
        total += absl::Seconds(n);
        break;
      case 'm':
        total += absl::Minutes(n);
        break;
      case 'h':
        total += absl::Hours(n);
        break;
      case 'd':
        total += absl::Hours(24 * n);
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("@every '", text, "': unknown unit '",
                                                       rest.substr(digits, 1), "' (s, m, h or d)"));
    }
    rest.remove_prefix(digits + 1);
  }
  return total;
}

absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("time zone name is empty");
  // Only names of the IANA database: no paths out of it.
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-' &&
        c != '+') {
      return absl::InvalidArgumentError(absl::StrCat("'", name, "' is not a time zone name"));
    }
  }
  absl::TimeZone zone;
  if (name[0] == '/' || absl::StrContains(name, "..") ||
      !absl::LoadTimeZone(std::string(name), &zone)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown time zone '", name, "' (an IANA name such as Europe/Berlin, or UTC)"));
  }
  return zone;
}

}  // namespace

absl::StatusOr<CronSpec> CronSpec::Parse(absl::string_view text,
                                         absl::string_view default_time_zone) {
  if (text.size() > kMaxCronLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("cron string is ", text.size(), " bytes; the limit is ", kMaxCronLength));
  }
  CronSpec spec;
  absl::string_view body = text;
  if (size_t hash = body.find('#'); hash != absl::string_view::npos) body = body.substr(0, hash);
  body = absl::StripAsciiWhitespace(body);
  std::string zone_name(default_time_zone.empty() ? "UTC" : default_time_zone);
  for (absl::string_view prefix : {"CRON_TZ=", "TZ="}) {
    if (absl::StartsWith(body, prefix)) {
      body.remove_prefix(prefix.size());
      size_t end = body.find_first_of(" \t");
      zone_name = std::string(body.substr(0, end));
      body = end == absl::string_view::npos ? "" : absl::StripAsciiWhitespace(body.substr(end));
      break;
    }
  }
  absl::StatusOr<absl::TimeZone> zone = LoadZone(zone_name);
  if (!zone.ok()) return zone.status();
  spec.zone_ = *zone;
  spec.time_zone_name_ = zone_name;
  if (body.empty()) return absl::InvalidArgumentError("cron string is empty");

  if (absl::StartsWith(body, "@every")) {
    absl::string_view rest = absl::StripAsciiWhitespace(body.substr(6));
    absl::string_view phase_text;
    if (size_t slash = rest.find('/'); slash != absl::string_view::npos) {
      phase_text = rest.substr(slash + 1);
      rest = rest.substr(0, slash);
    }
    absl::StatusOr<absl::Duration> interval = ParseEveryDuration(rest);
    if (!interval.ok()) return interval.status();
    if (*interval < absl::Seconds(1)) {
      return absl::InvalidArgumentError("@every interval must be at least 1s");
    }
    spec.interval_ = *interval;
    if (!phase_text.empty()) {
      absl::StatusOr<absl::Duration> phase = ParseEveryDuration(phase_text);
      if (!phase.ok()) return phase.status();
      spec.phase_ = *phase % *interval;
    }
    return spec;
  }

  std::string expanded(body);
  if (body[0] == '@') {
    static const std::pair<const char*, const char*> kShorthands[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}};
    bool known = false;
    for (const auto& [name, fields] : kShorthands) {
      if (absl::EqualsIgnoreCase(body, name)) {
        expanded = fields;
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown cron shorthand '", body,
                       "' (@yearly, @monthly, @weekly, @daily, @hourly or @every <interval>)"));
    }
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(expanded, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.size() < 5 || fields.size() > 7) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cron string '", body, "' has ", fields.size(),
        " fields; expected 5 (minute hour day-of-month month day-of-week), 6 (… year) or 7 "
        "(second … year)"));
  }
  size_t i = 0;
  if (fields.size() == 7) {
    if (absl::Status s = FillBits(kSecond, fields[i++], 0, &spec.seconds_); !s.ok()) return s;
  } else {
    spec.seconds_.set(0);
  }
  if (absl::Status s = FillBits(kMinute, fields[i++], 0, &spec.minutes_); !s.ok()) return s;
  if (absl::Status s = FillBits(kHour, fields[i++], 0, &spec.hours_); !s.ok()) return s;
  if (absl::Status s = FillBits(kDayOfMonth, fields[i++], 0, &spec.days_of_month_); !s.ok()) {
    return s;
  }
  if (absl::Status s = FillBits(kMonth, fields[i++], 0, &spec.months_); !s.ok()) return s;
  std::bitset<8> days_of_week;
  if (absl::Status s = FillBits(kDayOfWeek, fields[i++], 0, &days_of_week); !s.ok()) return s;
  for (int d = 0; d < 7; ++d) spec.days_of_week_[d] = days_of_week[d];
  if (days_of_week[7]) spec.days_of_week_.set(0);  // 7 is Sunday too.
  if (i < fields.size()) {
    if (absl::Status s = FillBits(kYear, fields[i++], kCronMinYear, &spec.years_); !s.ok()) {
      return s;
    }
  } else {
    spec.years_.set();
  }
  return spec;
}

bool CronSpec::MatchesDay(const absl::CivilDay& day) const {
  // absl numbers Monday 0 … Sunday 6; cron numbers Sunday 0 … Saturday 6.
  const int weekday = (static_cast<int>(absl::GetWeekday(day)) + 1) % 7;
  return days_of_month_[day.day()] && days_of_week_[weekday];
}

std::optional<absl::CivilSecond> CronSpec::NextMatch(absl::CivilSecond c) const {
  // Each step either returns or moves to the start of the next candidate unit, so the loop is
  // bounded by the units in the remaining years; the guard only protects against a bug.
  for (int guard = 0; guard < 10'000'000; ++guard) {
    if (c.year() > kCronMaxYear) return std::nullopt;
    if (c.year() < kCronMinYear) {
      c = absl::CivilSecond(kCronMinYear, 1, 1, 0, 0, 0);
      continue;
    }
    if (!years_[c.year() - kCronMinYear]) {
      c = absl::CivilSecond(absl::CivilYear(c) + 1);
    } else if (!months_[c.month()]) {
      c = absl::CivilSecond(absl::CivilMonth(c) + 1);
    } else if (!MatchesDay(absl::CivilDay(c))) {
      c = absl::CivilSecond(absl::CivilDay(c) + 1);
    } else if (!hours_[c.hour()]) {
      c = absl::CivilSecond(absl::CivilHour(c) + 1);
    } else if (!minutes_[c.minute()]) {
      c = absl::CivilSecond(absl::CivilMinute(c) + 1);
    } else if (!seconds_[c.second()]) {
      c += 1;
    } else {
      return c;
    }
  }
  return std::nullopt;
}

std::optional<absl::Time> CronSpec::Next(absl::Time after) const {
  if (is_interval()) {
    const int64_t interval = absl::ToInt64Seconds(interval_);
    const int64_t phase = absl::ToInt64Seconds(phase_);
    const int64_t a = absl::ToUnixSeconds(after) - phase;
    const int64_t k = (a >= 0 ? a / interval : -((-a + interval - 1) / interval)) + 1;
    return absl::FromUnixSeconds(k * interval + phase);
  }
  // Wall-clock matching. Near a fall-back transition a wall time earlier than `after`'s can
  // occur again later, so the search then starts a few hours back; elsewhere clock order and
  // time order agree and it starts at `after`'s wall time.
  constexpr absl::Duration kMaxShift = absl::Hours(3);
  const absl::CivilSecond now = zone_.At(after).cs;
  const bool steady = now - zone_.At(after - kMaxShift).cs == absl::ToInt64Seconds(kMaxShift) &&
                      zone_.At(after + kMaxShift).cs - now == absl::ToInt64Seconds(kMaxShift);
  absl::CivilSecond from = steady ? now : now - absl::ToInt64Seconds(kMaxShift);
  std::optional<absl::Time> best;
  while (std::optional<absl::CivilSecond> c = NextMatch(from)) {
    const absl::TimeZone::TimeInfo info = zone_.At(*c);
    if (info.kind != absl::TimeZone::TimeInfo::SKIPPED) {
      // The first time the clock shows a wall time only moves forward with the wall time, so
      // once it passes the best instant found nothing later can beat it.
      if (best && info.pre > *best) break;
      for (absl::Time t : {info.pre, info.post}) {
        if (t > after && (!best || t < *best)) best = t;
        if (info.kind == absl::TimeZone::TimeInfo::UNIQUE) break;
      }
      if (best && steady) break;
    }
    from = *c + 1;
  }
  return best;
}

}  // namespace vecsync::engine
