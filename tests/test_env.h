// The real PostgreSQL that scripts/services starts, prepared for tests.
//
// Each test binary works in its own database (created on first use, dropped at exit), so
// binaries that ctest runs in parallel never see each other's runs. VECSYNC_PG_URL must name
// the server; without it the test fails (it is never skipped).
#ifndef VECSYNC_TESTS_TEST_ENV_H_
#define VECSYNC_TESTS_TEST_ENV_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace vecsync::testing {

// The URL of this process's private test database.
const std::string& TestDatabaseUrl();

// Drops and re-creates the vecsync schema in the test database (all migrations applied).
absl::Status ResetEngineSchema();

// Polls `done` every 10 ms until it returns true or `timeout` passes; returns its last answer.
bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout);

}  // namespace vecsync::testing

#endif  // VECSYNC_TESTS_TEST_ENV_H_
