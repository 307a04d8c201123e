// Seeded random inputs for what parses untrusted text: the cron parser and the gRPC request
// conversions and checks. Run in ctest (and so under ASan+UBSan in scripts/test): nothing may
// crash, every rejection must be INVALID_ARGUMENT (or UNAUTHENTICATED for tokens), and what is
// accepted must behave. VECSYNC_FUZZ_ITERATIONS and VECSYNC_FUZZ_SEED override the defaults; a
// failure prints the seed and input to replay.
#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "absl/strings/match.h"
#include "src/api/bearer_auth.h"
#include "src/api/proto_convert.h"
#include "src/api/schedule_service.h"
#include "src/engine/cron.h"

namespace vecsync {
namespace {

int Iterations(int fallback) {
  const char* env = std::getenv("VECSYNC_FUZZ_ITERATIONS");
  return env != nullptr ? std::atoi(env) : fallback;
}

uint64_t Seed() {
  const char* env = std::getenv("VECSYNC_FUZZ_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20261121;
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Coin(int percent) { return Int(1, 100) <= percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }
  std::string Bytes(int max_len) {
    std::string s(static_cast<size_t>(Int(0, max_len)), '\0');
    for (char& c : s) c = static_cast<char>(Int(0, 255));
    return s;
  }
  // Text made of the pieces a parser cares about, mutated now and then.
  std::string Tokens(const std::vector<std::string>& pieces, int max_pieces) {
    std::string s;
    const int n = Int(0, max_pieces);
    for (int i = 0; i < n; ++i) {
      s += Pick(pieces);
      if (Coin(5)) s += static_cast<char>(Int(0, 255));
    }
    if (Coin(10) && !s.empty())
      s.erase(static_cast<size_t>(Int(0, static_cast<int>(s.size()) - 1)), 1);
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

const std::vector<std::string> kCronPieces = {"*",
                                              "?",
                                              "/",
                                              "-",
                                              ",",
                                              " ",
                                              " ",
                                              " ",
                                              "\t",
                                              "0",
                                              "1",
                                              "5",
                                              "7",
                                              "12",
                                              "15",
                                              "23",
                                              "24",
                                              "30",
                                              "31",
                                              "59",
                                              "60",
                                              "99",
                                              "2026",
                                              "2199",
                                              "2200",
                                              "MON",
                                              "fri",
                                              "SUN",
                                              "JAN",
                                              "dec",
                                              "@hourly",
                                              "@daily",
                                              "@weekly",
                                              "@monthly",
                                              "@yearly",
                                              "@every",
                                              "@every ",
                                              "1s",
                                              "30m",
                                              "2h",
                                              "1d",
                                              "0s",
                                              "CRON_TZ=",
                                              "TZ=",
                                              "UTC",
                                              "America/New_York",
                                              "Europe/Berlin",
                                              "../",
                                              "#",
                                              "L",
                                              "W",
                                              "99999999999"};

// A cron string shaped like a real one: 5, 6 or 7 fields of values, ranges, steps and lists,
// sometimes with a time zone; the caller mutates it at times.
std::string StructuredCron(Gen& gen) {
  static const std::vector<std::string> kZones = {"UTC", "America/New_York", "Europe/Berlin",
                                                  "Australia/Lord_Howe", "Asia/Kolkata"};
  auto field = [&](int lo, int hi) {
    std::string f;
    for (int k = gen.Int(1, 3); k > 0; --k) {
      if (!f.empty()) f += ",";
      const int a = gen.Int(lo, hi);
      switch (gen.Int(0, 4)) {
        case 0:
          f += "*";
          break;
        case 1:
          f += std::to_string(a);
          break;
        case 2:
          f += std::to_string(a) + "-" + std::to_string(gen.Int(a, hi));
          break;
        case 3:
          f += "*/" + std::to_string(gen.Int(1, hi - lo + 1));
          break;
        default:
          f += std::to_string(a) + "/" + std::to_string(gen.Int(1, 10));
          break;
      }
    }
    return f;
  };
  std::string s;
  if (gen.Coin(30)) s += "CRON_TZ=" + gen.Pick(kZones) + " ";
  if (gen.Coin(10))
    return s + "@every " + std::to_string(gen.Int(1, 5000)) +
           gen.Pick(std::vector<std::string>{"s", "m", "h", "d"});
  const int fields = gen.Int(5, 7);
  if (fields == 7) s += field(0, 59) + " ";
  s += field(0, 59) + " " + field(0, 23) + " " + field(1, 31) + " " + field(1, 12) + " " +
       field(0, 7);
  if (fields >= 6) s += " " + field(2026, 2040);
  return s;
}

TEST(FuzzTest, CronParserNeverCrashesAndWhatItAcceptsBehaves) {
  Gen gen(Seed());
  const int n = Iterations(20000);
  int accepted = 0;
  for (int i = 0; i < n; ++i) {
    std::string text = gen.Coin(60)   ? StructuredCron(gen)
                       : gen.Coin(85) ? gen.Tokens(kCronPieces, 14)
                                      : gen.Bytes(40);
    if (gen.Coin(10) && !text.empty()) {
      text[static_cast<size_t>(gen.Int(0, static_cast<int>(text.size()) - 1))] =
          static_cast<char>(gen.Int(0, 255));
    }
    absl::StatusOr<engine::CronSpec> spec = engine::CronSpec::Parse(text);
    if (!spec.ok()) {
      ASSERT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument)
          << "seed " << Seed() << " input '" << text << "': " << spec.status();
      ASSERT_FALSE(spec.status().message().empty());
      continue;
    }
    ++accepted;
    // Next is strictly later, and nothing matches in between (probing inside the gap).
    absl::Time t = absl::FromUnixSeconds(1700000000 + gen.Int(0, 200000000));
    for (int step = 0; step < 3; ++step) {
      std::optional<absl::Time> next = spec->Next(t);
      if (!next) break;
      ASSERT_GT(*next, t) << "'" << text << "'";
      const absl::Duration gap = *next - t;
      const absl::Time probe = t + gap / gen.Int(2, 7);
      if (probe < *next) {
        std::optional<absl::Time> again = spec->Next(probe);
        ASSERT_TRUE(again.has_value()) << "'" << text << "'";
        ASSERT_EQ(*again, *next) << "'" << text << "' probed inside the gap";
      }
      t = *next;
    }
  }
  // The generator must reach the interesting part, not only produce rejects.
  EXPECT_GT(accepted, n / 3) << "too few valid specs generated to mean anything";
}

const std::vector<std::string> kJsonPieces = {"{",
                                              "}",
                                              "[",
                                              "]",
                                              "\"",
                                              ":",
                                              ",",
                                              "\"domain\"",
                                              "\"action\"",
                                              "1",
                                              "-1",
                                              "1e999",
                                              "null",
                                              "true",
                                              "\\u0000",
                                              "\\",
                                              "\"name\"",
                                              " ",
                                              "{\"domain\":\"action\"}",
                                              "\xff",
                                              "0.5"};

TEST(FuzzTest, RequestConversionsRejectBadInputWithInvalidArgument) {
  google::protobuf::LogSilencer quiet;  // Random bytes are often not UTF-8; that is the point.
  Gen gen(Seed() + 1);
  const int n = Iterations(20000);
  for (int i = 0; i < n; ++i) {
    v1::StartWorkflowRequest start;
    if (gen.Coin(20)) {
      // Arbitrary bytes on the wire: whatever parses must convert safely.
      if (!start.ParseFromString(gen.Bytes(200))) continue;
    } else {
      start.set_workflow_type(gen.Coin(50) ? "sequence" : gen.Bytes(10));
      start.set_workflow_id(gen.Bytes(20));
      start.set_input_json(gen.Tokens(kJsonPieces, 10));
      start.set_reuse_policy(static_cast<v1::WorkflowIdReusePolicy>(gen.Int(-3, 6)));
      start.set_conflict_policy(static_cast<v1::WorkflowIdConflictPolicy>(gen.Int(-3, 6)));
      if (gen.Coin(30)) start.mutable_execution_timeout()->set_seconds(gen.Int(-100, 100));
    }
    absl::StatusOr<engine::StartWorkflowRequest> converted = api::FromProto(start);
    if (!converted.ok()) {
      ASSERT_EQ(converted.status().code(), absl::StatusCode::kInvalidArgument)
          << converted.status();
    } else {
      ASSERT_TRUE(converted->input.is_object());
      if (converted->execution_timeout) {
        ASSERT_GT(*converted->execution_timeout, absl::ZeroDuration());
      }
    }

    v1::ListWorkflowsRequest list;
    for (int k = gen.Int(0, 3); k > 0; --k)
      list.add_statuses(static_cast<v1::WorkflowStatus>(gen.Int(-2, 9)));
    if (gen.Coin(30)) list.mutable_start_time_from()->set_seconds(gen.Int(0, 100));
    if (gen.Coin(30)) list.mutable_start_time_to()->set_seconds(gen.Int(0, 100));
    list.set_page_size(gen.Int(-5, 2000));
    absl::StatusOr<engine::ListWorkflowsRequest> listed = api::FromProto(list);
    if (!listed.ok()) {
      ASSERT_EQ(listed.status().code(), absl::StatusCode::kInvalidArgument);
    }

    v1::Schedule schedule;
    schedule.mutable_spec()->set_cron_string(gen.Tokens(kCronPieces, 8));
    schedule.mutable_spec()->set_time_zone(gen.Coin(70) ? "" : gen.Pick(kCronPieces));
    schedule.mutable_action()->set_input_json(gen.Tokens(kJsonPieces, 6));
    schedule.mutable_policies()->set_overlap_policy(
        static_cast<v1::ScheduleOverlapPolicy>(gen.Int(-1, 8)));
    absl::StatusOr<engine::ScheduleDefinition> def = api::FromProto(gen.Bytes(8), schedule);
    if (!def.ok()) {
      ASSERT_EQ(def.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(FuzzTest, BearerHeadersAreOnlyEverAcceptedForTheToken) {
  Gen gen(Seed() + 2);
  auto auth = api::BearerAuth::Create({"s3cret-token"});
  ASSERT_TRUE(auth.ok());
  const std::vector<std::string> pieces = {"Bearer ", "bearer ", "Basic ", "s3cret-token", "s3cret",
                                           " ",       "-token",  "\t",     "\0",           "x"};
  const int n = Iterations(20000);
  for (int i = 0; i < n; ++i) {
    const std::string header = gen.Coin(80) ? gen.Tokens(pieces, 4) : gen.Bytes(30);
    absl::Status s = auth->CheckHeader(header);
    const bool valid = header.size() == 7 + 12 &&
                       absl::EqualsIgnoreCase(header.substr(0, 7), "Bearer ") &&
                       header.substr(7) == "s3cret-token";
    ASSERT_EQ(s.ok(), valid) << "'" << header << "'";
    if (!s.ok()) {
      ASSERT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
      ASSERT_EQ(s.message().find("s3cret"), std::string::npos) << "the token leaked";
    }
  }
}

}  // namespace
}  // namespace vecsync
