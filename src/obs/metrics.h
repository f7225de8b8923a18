#pragma once
// Metric primitives. Each shard owns its own instances and is the only writer;
// the /metrics handler (on any shard) reads them with relaxed loads and sums.
// No locks, no shared cache lines between writers.

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace rf::obs {

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};  // single writer: load+store, no locked RMW
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  int64_t Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Latency histogram with fixed bounds in seconds (Prometheus "le" buckets).
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,    0.025,  0.05,    0.1,    0.25,  1.0,    5.0};
  void ObserveNanos(int64_t ns);
  uint64_t BucketCount(size_t i) const { return buckets_[i].Get(); }  // non-cumulative
  uint64_t Count() const { return count_.Get(); }
  double SumSeconds() const { return static_cast<double>(sum_ns_.Get()) / 1e9; }

 private:
  std::array<Counter, kBounds.size() + 1> buckets_;  // last = +Inf
  Counter count_;
  Counter sum_ns_;
};

// Writes the Prometheus text exposition format (version 0.0.4).
// A histogram of counts (records per batch) with power-of-two bounds; Histogram
// is for seconds. Single writer, read by /metrics anywhere.
class CountHistogram {
 public:
  static constexpr std::array<uint64_t, 14> kBounds = {1,   2,   4,    8,    16,    32,    64,
                                                       128, 256, 1024, 4096, 16384, 65536, 262144};
  void Observe(uint64_t v);
  uint64_t BucketCount(size_t i) const { return buckets_[i].Get(); }  // non-cumulative; last = +Inf
  uint64_t Count() const { return count_.Get(); }
  uint64_t Sum() const { return sum_.Get(); }

 private:
  std::array<Counter, kBounds.size() + 1> buckets_;
  Counter count_;
  Counter sum_;
};

class TextExposition {
 public:
  explicit TextExposition(std::string& out) : out_(out) {}
  void Family(std::string_view name, std::string_view type, std::string_view help);
  // labels: already formatted `a="x",b="y"` (may be empty).
  void Sample(std::string_view name, std::string_view labels, double value);
  void SampleU(std::string_view name, std::string_view labels, uint64_t value);
  // Sums `parts` (one histogram per shard) and writes _bucket/_sum/_count.
  void HistogramSum(std::string_view name, std::string_view labels,
                    std::span<const Histogram* const> parts);
  void CountHistogramSum(std::string_view name, std::span<const CountHistogram* const> parts);

 private:
  std::string& out_;
};

// Escapes a label value per the exposition format.
std::string LabelValue(std::string_view v);

}  // namespace rf::obs
