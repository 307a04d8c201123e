// Runs tests/fake_openai_server.py (a real HTTP server) for the duration of a test and talks to
// its control endpoint.
#ifndef VECSYNC_TESTS_FAKE_PROVIDER_H_
#define VECSYNC_TESTS_FAKE_PROVIDER_H_

#include <sys/types.h>

#include <string>

#include "src/common/json.h"

namespace vecsync::testing {

class FakeProvider {
 public:
  // Starts the server on a free loopback port; aborts the test binary if it cannot.
  explicit FakeProvider(int dimensions);
  ~FakeProvider();

  // e.g. http://127.0.0.1:PORT/v1
  const std::string& base_url() const { return base_url_; }
  // POST /control: faults for the coming requests, latency, retry-after.
  void Control(const Json& settings);
  Json Stats();

 private:
  std::string Request(const std::string& method, const std::string& path, const std::string& body);
  pid_t pid_ = -1;
  int port_ = 0;
  std::string base_url_;
};

}  // namespace vecsync::testing

#endif  // VECSYNC_TESTS_FAKE_PROVIDER_H_
