// Process-wide Prometheus metrics: counter, gauge and histogram families with labels, rendered
// in the text exposition format (version 0.0.4) for the /metrics endpoint.
//
// A family is created once, where it is used, and lives for the process:
//
//   static metrics::Counter& attempts = metrics::Counter::Get(
//       "vecsync_activity_attempts_total", "Activity attempts finished", {"activity_type",
//       "outcome"});
//   attempts.Add({"sync-process", "completed"});
//
// Getting the same name twice returns the same family (its help and labels must agree).
// Collectors run at each render to refresh gauges whose values live elsewhere (the database).
//
// Thread-safe.
#ifndef VECSYNC_COMMON_METRICS_H_
#define VECSYNC_COMMON_METRICS_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "src/common/mutex.h"

namespace vecsync::metrics {

using LabelValues = std::vector<std::string>;

class Family {
 public:
  virtual ~Family() = default;
  const std::string& name() const { return name_; }
  // Appends this family's HELP, TYPE and sample lines.
  virtual void Render(std::string* out) const = 0;

 protected:
  Family(std::string name, std::string help, std::vector<std::string> labels)
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {}
  // `{a="x",b="y"}` for these values (and an extra label, for histogram buckets).
  std::string LabelText(const LabelValues& values, const std::string& extra_name = "",
                        const std::string& extra_value = "") const;
  void RenderHeader(const char* type, std::string* out) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> labels_;
};

class Counter : public Family {
 public:
  static Counter& Get(const std::string& name, const std::string& help,
                      std::vector<std::string> labels = {});
  void Add(const LabelValues& values = {}, double by = 1);
  void Render(std::string* out) const override;

 private:
  using Family::Family;
  mutable Mutex mu_;
  std::map<LabelValues, double> values_ ABSL_GUARDED_BY(mu_);
};

class Gauge : public Family {
 public:
  static Gauge& Get(const std::string& name, const std::string& help,
                    std::vector<std::string> labels = {});
  void Set(const LabelValues& values, double value);
  // Drops every sample (before a collector sets the current ones).
  void Clear();
  void Render(std::string* out) const override;

 private:
  using Family::Family;
  mutable Mutex mu_;
  std::map<LabelValues, double> values_ ABSL_GUARDED_BY(mu_);
};

class Histogram : public Family {
 public:
  // Latency buckets in seconds, 5 ms to 5 min.
  static std::vector<double> LatencyBuckets();
  static Histogram& Get(const std::string& name, const std::string& help,
                        std::vector<std::string> labels = {},
                        std::vector<double> buckets = LatencyBuckets());
  void Observe(const LabelValues& values, double value);
  void Render(std::string* out) const override;

 private:
  Histogram(std::string name, std::string help, std::vector<std::string> labels,
            std::vector<double> buckets)
      : Family(std::move(name), std::move(help), std::move(labels)), buckets_(std::move(buckets)) {}
  struct Series {
    std::vector<uint64_t> counts;  // Per bucket (not cumulative); the last is +Inf.
    double sum = 0;
    uint64_t count = 0;
  };
  const std::vector<double> buckets_;
  mutable Mutex mu_;
  std::map<LabelValues, Series> series_ ABSL_GUARDED_BY(mu_);
};

// Registers `collect`, run at the start of every RenderAll.
void AddCollector(std::function<void()> collect);

// Every family, sorted by name, in the text exposition format.
std::string RenderAll();

}  // namespace vecsync::metrics

#endif  // VECSYNC_COMMON_METRICS_H_
