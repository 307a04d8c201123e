#include "src/common/metrics.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vecsync::metrics {
namespace {

struct Registry {
  Mutex mu;
  std::map<std::string, std::unique_ptr<Family>> families ABSL_GUARDED_BY(mu);
  std::vector<std::function<void()>> collectors ABSL_GUARDED_BY(mu);
};

Registry& TheRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

template <typename T, typename Make>
T& GetOrCreate(const std::string& name, Make make) {
  Registry& r = TheRegistry();
  MutexLock lock(&r.mu);
  auto it = r.families.find(name);
  if (it == r.families.end()) it = r.families.emplace(name, make()).first;
  return *static_cast<T*>(it->second.get());
}

std::string Escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) { return absl::StrFormat("%.17g", v); }

}  // namespace

std::string Family::LabelText(const LabelValues& values, const std::string& extra_name,
                              const std::string& extra_value) const {
  std::string out;
  for (size_t i = 0; i < labels_.size() && i < values.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", labels_[i], "=\"", Escape(values[i]), "\"");
  }
  if (!extra_name.empty()) {
    absl::StrAppend(&out, out.empty() ? "" : ",", extra_name, "=\"", extra_value, "\"");
  }
  return out.empty() ? "" : "{" + out + "}";
}

void Family::RenderHeader(const char* type, std::string* out) const {
  absl::StrAppend(out, "# HELP ", name_, " ", help_, "\n# TYPE ", name_, " ", type, "\n");
}

Counter& Counter::Get(const std::string& name, const std::string& help,
                      std::vector<std::string> labels) {
  return GetOrCreate<Counter>(
      name, [&] { return std::unique_ptr<Family>(new Counter(name, help, std::move(labels))); });
}

void Counter::Add(const LabelValues& values, double by) {
  MutexLock lock(&mu_);
  values_[values] += by;
}

void Counter::Render(std::string* out) const {
  RenderHeader("counter", out);
  MutexLock lock(&mu_);
  if (values_.empty() && labels_.empty()) absl::StrAppend(out, name_, " 0\n");
  for (const auto& [labels, v] : values_) {
    absl::StrAppend(out, name_, LabelText(labels), " ", Number(v), "\n");
  }
}

Gauge& Gauge::Get(const std::string& name, const std::string& help,
                  std::vector<std::string> labels) {
  return GetOrCreate<Gauge>(
      name, [&] { return std::unique_ptr<Family>(new Gauge(name, help, std::move(labels))); });
}

void Gauge::Set(const LabelValues& values, double value) {
  MutexLock lock(&mu_);
  values_[values] = value;
}

void Gauge::Clear() {
  MutexLock lock(&mu_);
  values_.clear();
}

void Gauge::Render(std::string* out) const {
  RenderHeader("gauge", out);
  MutexLock lock(&mu_);
  for (const auto& [labels, v] : values_) {
    absl::StrAppend(out, name_, LabelText(labels), " ", Number(v), "\n");
  }
}

std::vector<double> Histogram::LatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}

Histogram& Histogram::Get(const std::string& name, const std::string& help,
                          std::vector<std::string> labels, std::vector<double> buckets) {
  return GetOrCreate<Histogram>(name, [&] {
    return std::unique_ptr<Family>(
        new Histogram(name, help, std::move(labels), std::move(buckets)));
  });
}

void Histogram::Observe(const LabelValues& values, double value) {
  MutexLock lock(&mu_);
  Series& s = series_[values];
  if (s.counts.empty()) s.counts.assign(buckets_.size() + 1, 0);
  size_t i = 0;
  while (i < buckets_.size() && value > buckets_[i]) ++i;
  ++s.counts[i];
  s.sum += value;
  ++s.count;
}

void Histogram::Render(std::string* out) const {
  RenderHeader("histogram", out);
  MutexLock lock(&mu_);
  for (const auto& [labels, s] : series_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= buckets_.size(); ++i) {
      cumulative += s.counts[i];
      const std::string le = i < buckets_.size() ? Number(buckets_[i]) : "+Inf";
      absl::StrAppend(out, name_, "_bucket", LabelText(labels, "le", le), " ", cumulative, "\n");
    }
    absl::StrAppend(out, name_, "_sum", LabelText(labels), " ", Number(s.sum), "\n");
    absl::StrAppend(out, name_, "_count", LabelText(labels), " ", s.count, "\n");
  }
}

void AddCollector(std::function<void()> collect) {
  Registry& r = TheRegistry();
  MutexLock lock(&r.mu);
  r.collectors.push_back(std::move(collect));
}

std::string RenderAll() {
  Registry& r = TheRegistry();
  std::vector<std::function<void()>> collectors;
  {
    MutexLock lock(&r.mu);
    collectors = r.collectors;
  }
  for (const auto& collect : collectors) collect();
  std::string out;
  MutexLock lock(&r.mu);
  for (const auto& [name, family] : r.families) family->Render(&out);
  return out;
}

}  // namespace vecsync::metrics
