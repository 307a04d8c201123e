#include "src/clients/openai_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/clients/token_usage.h"
#include "src/common/metrics.h"
#include "src/common/mutex.h"
#include "src/common/stable_hash.h"
#include "src/common/status_macros.h"

namespace vecsync::clients {
namespace {

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t AppendHeader(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    (*static_cast<std::map<std::string, std::string>*>(
        out))[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * n;
}

// "1s", "6m0s", "20ms", "0.5s" (the x-ratelimit-reset-* format) or plain seconds.
absl::Duration ParseReset(const std::string& text) {
  absl::Duration d;
  if (absl::ParseDuration(text, &d)) return d;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) return absl::Seconds(seconds);
  return absl::Seconds(1);
}

int64_t HeaderInt(const std::map<std::string, std::string>& headers, const std::string& name) {
  auto it = headers.find(name);
  int64_t v = -1;
  if (it == headers.end() || !absl::SimpleAtoi(it->second, &v)) return -1;
  return v;
}

// How long the provider asked us to wait, if it did.
std::optional<absl::Duration> RetryAfter(const std::map<std::string, std::string>& headers) {
  double v = 0;
  if (auto it = headers.find("retry-after-ms");
      it != headers.end() && absl::SimpleAtod(it->second, &v)) {
    return absl::Milliseconds(v);
  }
  if (auto it = headers.find("retry-after");
      it != headers.end() && absl::SimpleAtod(it->second, &v)) {
    return absl::Seconds(v);
  }
  return std::nullopt;
}

bool Retryable(long status) {
  return status == 408 || status == 409 || status == 429 || status >= 500;
}

}  // namespace

int64_t EstimateTokens(const std::string& text) {
  return static_cast<int64_t>(text.size() / 4) + 1;
}

absl::Status OpenAiOptions::Validate() const {
  if (base_url.rfind("http://", 0) != 0 && base_url.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("OPENAI_BASE_URL must start with http:// or https://, got '", base_url, "'"));
  }
  if (dimensions < 1 || dimensions > 16384) {
    return absl::InvalidArgumentError(
        absl::StrCat("dimensions must be between 1 and 16384, got ", dimensions));
  }
  if (max_inputs_per_request < 1 || max_inputs_per_request > 2048) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_inputs_per_request must be between 1 and 2048, got ", max_inputs_per_request));
  }
  if (max_tokens_per_request < 1) {
    return absl::InvalidArgumentError("max_tokens_per_request must be positive");
  }
  if (timeout <= absl::ZeroDuration())
    return absl::InvalidArgumentError("timeout must be positive");
  if (max_retries < 0) return absl::InvalidArgumentError("max_retries must not be negative");
  if (max_concurrent_requests < 1 || max_concurrent_requests > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_concurrent_requests must be between 1 and 256, got ", max_concurrent_requests));
  }
  if (requests_per_minute < 0 || tokens_per_minute < 0) {
    return absl::InvalidArgumentError("rate limits must not be negative");
  }
  return absl::OkStatus();
}

// Idle keep-alive handles: each request borrows one, so concurrent requests run in parallel
// and sequential ones reuse their connections.
struct OpenAiHttp::Connection {
  Mutex mu;
  std::vector<CURL*> idle ABSL_GUARDED_BY(mu);
  int64_t sent ABSL_GUARDED_BY(mu) = 0;

  CURL* Borrow() {
    MutexLock lock(&mu);
    ++sent;
    if (idle.empty()) return curl_easy_init();
    CURL* c = idle.back();
    idle.pop_back();
    return c;
  }
  void Return(CURL* c) {
    MutexLock lock(&mu);
    idle.push_back(c);
  }
  ~Connection() {
    for (CURL* c : idle) curl_easy_cleanup(c);
  }
};

OpenAiHttp::OpenAiHttp(OpenAiOptions options)
    : options_(std::move(options)),
      limiter_(options_.requests_per_minute, options_.tokens_per_minute),
      connection_(std::make_unique<Connection>()) {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)init;
}

OpenAiHttp::~OpenAiHttp() = default;

int64_t OpenAiHttp::requests_sent() const {
  MutexLock lock(&connection_->mu);
  return connection_->sent;
}

absl::StatusOr<Json> OpenAiHttp::Post(const std::string& path, const Json& body,
                                      int64_t estimated_tokens) {
  const std::string url = options_.base_url + path;
  const std::string payload = body.dump();
  static metrics::Histogram& latency = metrics::Histogram::Get(
      "vecsync_provider_request_seconds",
      "Requests to the OpenAI-compatible provider, by endpoint and HTTP status (0: no answer)",
      {"endpoint", "status"});
  static metrics::Counter& rate_limited =
      metrics::Counter::Get("vecsync_provider_rate_limited_total",
                            "Provider answers of HTTP 429, by endpoint", {"endpoint"});
  static metrics::Counter& tokens = metrics::Counter::Get(
      "vecsync_provider_tokens_total",
      "Tokens the provider reported using (usage.prompt_tokens / completion_tokens)",
      {"endpoint", "kind"});
  absl::Status last;
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    limiter_.Acquire(estimated_tokens);
    std::string response;
    std::map<std::string, std::string> headers;
    long status = 0;
    CURLcode rc;
    const absl::Time sent = absl::Now();
    {
      CURL* curl = connection_->Borrow();
      curl_slist* header_list = curl_slist_append(nullptr, "Content-Type: application/json");
      // No "Expect: 100-continue" round trip before larger bodies.
      header_list = curl_slist_append(header_list, "Expect:");
      if (!options_.api_key.empty()) {
        const std::string auth = absl::StrCat(
            options_.api_key_header ? "api-key: " : "Authorization: Bearer ", options_.api_key);
        header_list = curl_slist_append(header_list, auth.c_str());
      }
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
      curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendHeader);
      curl_easy_setopt(curl, CURLOPT_HEADERDATA, &headers);
      curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
      curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
      curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
      rc = curl_easy_perform(curl);
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
      curl_slist_free_all(header_list);
      connection_->Return(curl);
    }
    limiter_.Observe(
        HeaderInt(headers, "x-ratelimit-remaining-requests"),
        ParseReset(headers.count("x-ratelimit-reset-requests")
                       ? headers["x-ratelimit-reset-requests"]
                       : "1s"),
        HeaderInt(headers, "x-ratelimit-remaining-tokens"),
        ParseReset(headers.count("x-ratelimit-reset-tokens") ? headers["x-ratelimit-reset-tokens"]
                                                             : "1s"));
    latency.Observe({path, std::to_string(rc == CURLE_OK ? status : 0)},
                    absl::ToDoubleSeconds(absl::Now() - sent));
    if (status == 429) rate_limited.Add({path});
    std::optional<absl::Duration> wait;
    if (rc != CURLE_OK) {
      last = absl::UnavailableError(
          absl::StrCat("request to ", url, " failed: ", curl_easy_strerror(rc)));
    } else if (status == 401 || status == 403) {
      // Not retried here; the sync activities list these codes as non-retryable too.
      return absl::Status(
          status == 401 ? absl::StatusCode::kUnauthenticated : absl::StatusCode::kPermissionDenied,
          absl::StrCat("the provider refused the API key (HTTP ", status,
                       "): check OPENAI_API_KEY; ", absl::string_view(response).substr(0, 300)));
    } else if (Retryable(status)) {
      last = absl::Status(
          status == 429 ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kUnavailable,
          absl::StrCat("provider answered HTTP ", status, ": ",
                       absl::string_view(response).substr(0, 300)));
      wait = RetryAfter(headers);
      if (wait && status == 429) limiter_.PauseFor(*wait);
    } else if (status >= 400) {
      return absl::InvalidArgumentError(
          absl::StrCat("provider rejected the request (HTTP ", status,
                       "): ", absl::string_view(response).substr(0, 300)));
    } else {
      Json parsed = Json::parse(response, nullptr, false);
      if (parsed.is_discarded() || !parsed.is_object()) {
        return absl::DataLossError(absl::StrCat("provider answered malformed JSON: ",
                                                absl::string_view(response).substr(0, 200)));
      }
      if (const auto usage = parsed.find("usage"); usage != parsed.end() && usage->is_object()) {
        int64_t used[2] = {0, 0};
        for (int k = 0; k < 2; ++k) {
          const char* kind = k == 0 ? "prompt_tokens" : "completion_tokens";
          if (auto n = usage->find(kind); n != usage->end() && n->is_number()) {
            tokens.Add({path, kind}, n->get<double>());
            used[k] = n->get<int64_t>();
          }
        }
        if (TokenUsage* counted = TokenUsage::Current()) counted->Add(used[0], used[1]);
      }
      return parsed;
    }
    if (attempt == options_.max_retries) break;
    // The official SDK's backoff: 0.5 s × 2^n, at most 8 s, unless the provider said otherwise.
    absl::SleepFor(
        wait.value_or(std::min(absl::Milliseconds(500) * (1 << attempt), absl::Seconds(8))));
  }
  return absl::Status(last.code(), absl::StrCat(last.message(), " (after ",
                                                options_.max_retries + 1, " attempts)"));
}

absl::StatusOr<std::unique_ptr<OpenAiEmbedder>> OpenAiEmbedder::Create(OpenAiOptions options) {
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<OpenAiEmbedder>(new OpenAiEmbedder(std::move(options)));
}

absl::StatusOr<std::vector<std::vector<float>>> OpenAiEmbedder::Embed(
    const std::vector<std::string>& texts) {
  const OpenAiOptions& o = http_.options();
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  std::vector<std::string> request;
  int64_t tokens = 0;
  for (const std::string& text : texts) {
    const int64_t t = EstimateTokens(text);
    if (!request.empty() && (static_cast<int>(request.size()) >= o.max_inputs_per_request ||
                             tokens + t > o.max_tokens_per_request)) {
      ASSIGN_OR_RETURN(auto vectors, EmbedRequest(request, tokens));
      for (auto& v : vectors) out.push_back(std::move(v));
      request.clear();
      tokens = 0;
    }
    request.push_back(text);
    tokens += t;
  }
  if (!request.empty()) {
    ASSIGN_OR_RETURN(auto vectors, EmbedRequest(request, tokens));
    for (auto& v : vectors) out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<float>>> OpenAiEmbedder::EmbedRequest(
    const std::vector<std::string>& texts, int64_t tokens) {
  const OpenAiOptions& o = http_.options();
  Json body = {{"model", o.embedding_model}, {"input", texts}, {"encoding_format", "base64"}};
  if (o.send_dimensions) body["dimensions"] = o.dimensions;
  ASSIGN_OR_RETURN(Json answer, http_.Post("/embeddings", body, tokens));
  const Json& data = answer.contains("data") ? answer["data"] : Json();
  if (!data.is_array() || data.size() != texts.size()) {
    return absl::DataLossError(absl::StrCat("embeddings response has ",
                                            data.is_array() ? data.size() : 0, " vectors for ",
                                            texts.size(), " inputs"));
  }
  std::vector<std::vector<float>> vectors(texts.size());
  std::vector<bool> seen(texts.size(), false);
  for (const Json& item : data) {
    if (!item.is_object() || !item.contains("index") || !item["index"].is_number_integer()) {
      return absl::DataLossError("embeddings response item without an integer index");
    }
    const int64_t index = item["index"].get<int64_t>();
    if (index < 0 || index >= static_cast<int64_t>(texts.size()) || seen[index]) {
      return absl::DataLossError(
          absl::StrCat("embeddings response has a bad or repeated index ", index));
    }
    seen[index] = true;
    std::vector<float>& v = vectors[index];
    const Json& e = item.contains("embedding") ? item["embedding"] : Json();
    if (e.is_string()) {
      std::string bytes;
      if (!absl::Base64Unescape(e.get<std::string>(), &bytes) || bytes.size() % 4 != 0) {
        return absl::DataLossError("embeddings response has invalid base64");
      }
      v.resize(bytes.size() / 4);
      std::memcpy(v.data(), bytes.data(), bytes.size());
    } else if (e.is_array()) {
      for (const Json& x : e) {
        if (!x.is_number())
          return absl::DataLossError("embeddings response has a non-number value");
        v.push_back(x.get<float>());
      }
    } else {
      return absl::DataLossError("embeddings response item has no embedding");
    }
    if (static_cast<int>(v.size()) != o.dimensions) {
      return absl::DataLossError(absl::StrCat("embedding ", index, " has ", v.size(),
                                              " dimensions, expected ", o.dimensions));
    }
    for (float x : v) {
      if (!std::isfinite(x)) {
        return absl::DataLossError(absl::StrCat("embedding ", index, " holds a non-finite value"));
      }
    }
  }
  return vectors;
}

absl::StatusOr<std::unique_ptr<OpenAiSummarizer>> OpenAiSummarizer::Create(OpenAiOptions options) {
  RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<OpenAiSummarizer>(new OpenAiSummarizer(std::move(options)));
}

std::string OpenAiSummarizer::version(absl::string_view prompt) const {
  // The model and the prompt (by a stable FNV-1a hash): changing either re-summarizes.
  return absl::StrCat("openai:", http_.options().chat_model, ":", absl::Hex(Fnv1a(prompt)));
}

absl::StatusOr<std::string> OpenAiSummarizer::SummarizeOne(absl::string_view prompt,
                                                           const std::string& input) {
  const OpenAiOptions& o = http_.options();
  Json body = {
      {"model", o.chat_model},
      {"temperature", 0.1},
      {"messages",
       {{{"role", "system"}, {"content", prompt}}, {{"role", "user"}, {"content", input}}}}};
  ASSIGN_OR_RETURN(Json answer, http_.Post("/chat/completions", body, EstimateTokens(input) + 200));
  const Json& choices = answer.contains("choices") ? answer["choices"] : Json();
  if (!choices.is_array() || choices.empty() || !choices[0].contains("message") ||
      !choices[0]["message"].contains("content") || !choices[0]["message"]["content"].is_string() ||
      choices[0]["message"]["content"].get<std::string>().empty()) {
    return absl::DataLossError("chat response has no message content");
  }
  return choices[0]["message"]["content"].get<std::string>();
}

absl::StatusOr<std::vector<absl::StatusOr<std::string>>> OpenAiSummarizer::Summarize(
    absl::string_view prompt, const std::vector<std::string>& inputs) {
  std::vector<absl::StatusOr<std::string>> out(inputs.size(), absl::UnknownError("not run"));
  Mutex mu;
  size_t next = 0;
  absl::Status fatal;
  // Each thread takes a shared slot per request, so concurrent calls share the cap.
  auto work = [&] {
    while (true) {
      size_t i;
      {
        MutexLock lock(&mu);
        if (next >= inputs.size() || !fatal.ok()) return;
        i = next++;
      }
      {
        MutexLock lock(&slots_mu_);
        slots_mu_.Await(Condition(
            +[](int* free) { return *free > 0; }, &free_slots_));
        --free_slots_;
      }
      absl::StatusOr<std::string> summary = SummarizeOne(prompt, inputs[i]);
      {
        MutexLock lock(&slots_mu_);
        ++free_slots_;
      }
      const absl::StatusCode code = summary.status().code();
      MutexLock lock(&mu);
      // Whole-batch conditions: bad credentials, or the provider down or throttling past our
      // retries. The engine retries the activity; no item is charged a failure.
      if (code == absl::StatusCode::kUnauthenticated ||
          code == absl::StatusCode::kPermissionDenied || code == absl::StatusCode::kUnavailable ||
          code == absl::StatusCode::kResourceExhausted) {
        if (fatal.ok()) fatal = summary.status();
        return;
      }
      out[i] = std::move(summary);
    }
  };
  const int threads =
      std::min<int>(http_.options().max_concurrent_requests, static_cast<int>(inputs.size()));
  std::vector<std::thread> pool;
  TokenUsage* const usage = TokenUsage::Current();  // The helpers count where the caller does.
  for (int t = 1; t < threads; ++t) {
    pool.emplace_back([&work, usage] {
      TokenUsage::Scope scope(usage);
      work();
    });
  }
  work();
  for (std::thread& t : pool) t.join();
  if (!fatal.ok()) return fatal;
  return out;
}

}  // namespace vecsync::clients
