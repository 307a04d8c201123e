// The Prometheus text format the /metrics endpoint serves, and the HTTP server behind it.
#include "src/common/metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/time/clock.h"
#include "src/common/http_server.h"

namespace vecsync::metrics {
namespace {

TEST(MetricsTest, RendersTheTextExpositionFormat) {
  Counter& c = Counter::Get("test_events_total", "Events \"seen\"", {"kind"});
  c.Add({"a"});
  c.Add({"a"}, 2);
  c.Add({"quote\"d"});
  EXPECT_EQ(&Counter::Get("test_events_total", "Events \"seen\"", {"kind"}), &c);
  Gauge& g = Gauge::Get("test_depth", "Depth", {"state"});
  g.Set({"ready"}, 7);
  Histogram& h = Histogram::Get("test_seconds", "Latency", {"op"}, {0.1, 1});
  h.Observe({"x"}, 0.05);
  h.Observe({"x"}, 0.5);
  h.Observe({"x"}, 5);
  const std::string text = RenderAll();
  for (const char* line : {
           "# HELP test_events_total Events \"seen\"\n# TYPE test_events_total counter\n",
           "test_events_total{kind=\"a\"} 3\n",
           "test_events_total{kind=\"quote\\\"d\"} 1\n",
           "# TYPE test_depth gauge\ntest_depth{state=\"ready\"} 7\n",
           "# TYPE test_seconds histogram\n",
           "test_seconds_bucket{op=\"x\",le=\"0.10000000000000001\"} 1\n",
           "test_seconds_bucket{op=\"x\",le=\"1\"} 2\n",
           "test_seconds_bucket{op=\"x\",le=\"+Inf\"} 3\n",
           "test_seconds_sum{op=\"x\"} 5.5499999999999998\n",
           "test_seconds_count{op=\"x\"} 3\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << text;
  }
  g.Clear();
  EXPECT_EQ(RenderAll().find("test_depth{"), std::string::npos);
}

TEST(MetricsTest, CollectorsRunAtEachRender) {
  static int runs = 0;  // Collectors live for the process.
  AddCollector([] { Gauge::Get("test_collected", "Collected").Set({}, ++runs); });
  EXPECT_NE(RenderAll().find("test_collected 1\n"), std::string::npos);
  EXPECT_NE(RenderAll().find("test_collected 2\n"), std::string::npos);
}

TEST(HttpServerTest, ServesRoutesAndRefusesTheRest) {
  auto server = HttpServer::Start("127.0.0.1:0", {{"/hello", [] {
                                                     return HttpResponse{200, "text/plain", "hi\n"};
                                                   }}});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  auto get = [](const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[512];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
  };
  EXPECT_EQ(get("curl -s -w ' %{http_code}' " + base + "/hello?x=1"), "hi\n 200");
  EXPECT_EQ(get("curl -s -o /dev/null -w '%{http_code}' " + base + "/other"), "404");
  EXPECT_EQ(get("curl -s -o /dev/null -w '%{http_code}' -X POST " + base + "/hello"), "405");
  EXPECT_EQ(HttpServer::Start("127.0.0.1:" + std::to_string((*server)->port()), {}).status().code(),
            absl::StatusCode::kUnavailable)
      << "a taken port is a clear error";
  EXPECT_EQ(HttpServer::Start("no-port", {}).status().code(), absl::StatusCode::kInvalidArgument);
  // A client trickling its request cannot hold the server: others are served within the
  // request deadline (2 s), not after the trickle ends (6 s).
  std::thread slow([port = (*server)->port()] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      for (int i = 0; i < 6; ++i) {
        send(fd, "G", 1, MSG_NOSIGNAL);
        sleep(1);
      }
    }
    close(fd);
  });
  usleep(200000);
  const absl::Time asked = absl::Now();
  EXPECT_EQ(get("curl -s -m 10 " + base + "/hello"), "hi\n");
  EXPECT_LT(absl::Now() - asked, absl::Seconds(4));
  slow.join();
  (*server)->Shutdown();
}

}  // namespace
}  // namespace vecsync::metrics
