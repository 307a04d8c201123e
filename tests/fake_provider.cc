#include "tests/fake_provider.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace vecsync::testing {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

FakeProvider::FakeProvider(int dimensions) {
  int out[2];
  if (pipe(out) != 0) std::abort();
  pid_ = fork();
  if (pid_ == 0) {
    // Die with the test, even if it crashes: an orphan would hold ctest's output pipe open.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    const int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) dup2(null_fd, STDERR_FILENO);
    const std::string dims = std::to_string(dimensions);
    execlp("python3", "python3", FAKE_OPENAI_SERVER, "--dimensions", dims.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  if (f == nullptr || std::fscanf(f, "PORT %d", &port_) != 1) {
    std::cerr << "the fake provider did not start\n";
    std::abort();
  }
  std::fclose(f);
  base_url_ = "http://127.0.0.1:" + std::to_string(port_) + "/v1";
}

FakeProvider::~FakeProvider() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
}

std::string FakeProvider::Request(const std::string& method, const std::string& path,
                                  const std::string& body) {
  CURL* curl = curl_easy_init();
  std::string response;
  const std::string url = "http://127.0.0.1:" + std::to_string(port_) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (method == "POST") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  return response;
}

void FakeProvider::Control(const Json& settings) { Request("POST", "/control", settings.dump()); }

Json FakeProvider::Stats() { return Json::parse(Request("GET", "/stats", ""), nullptr, false); }

}  // namespace vecsync::testing
