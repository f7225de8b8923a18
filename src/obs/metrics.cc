#include "obs/metrics.h"

#include <charconv>
#include <cmath>

namespace rf::obs {

void Histogram::ObserveNanos(int64_t ns) {
  if (ns < 0) ns = 0;
  double s = static_cast<double>(ns) / 1e9;
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  buckets_[i].Add();
  count_.Add();
  sum_ns_.Add(static_cast<uint64_t>(ns));
}

namespace {

void AppendDouble(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendU(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendName(std::string& out, std::string_view name, std::string_view labels) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
}

}  // namespace

void TextExposition::Family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void TextExposition::Sample(std::string_view name, std::string_view labels, double value) {
  AppendName(out_, name, labels);
  AppendDouble(out_, value);
  out_ += '\n';
}

void TextExposition::SampleU(std::string_view name, std::string_view labels, uint64_t value) {
  AppendName(out_, name, labels);
  AppendU(out_, value);
  out_ += '\n';
}

void TextExposition::HistogramSum(std::string_view name, std::string_view labels,
                                  std::span<const Histogram* const> parts) {
  std::string bucket_name = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  double sum = 0;
  uint64_t count = 0;
  for (const Histogram* h : parts) {
    sum += h->SumSeconds();
    count += h->Count();
  }
  for (size_t i = 0; i <= Histogram::kBounds.size(); ++i) {
    for (const Histogram* h : parts) cumulative += h->BucketCount(i);
    std::string l(labels);
    if (!l.empty()) l += ',';
    l += "le=\"";
    if (i == Histogram::kBounds.size()) {
      l += "+Inf";
    } else {
      AppendDouble(l, Histogram::kBounds[i]);
    }
    l += '"';
    SampleU(bucket_name, l, cumulative);
  }
  Sample(std::string(name) + "_sum", labels, sum);
  SampleU(std::string(name) + "_count", labels, count);
}

std::string LabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void CountHistogram::Observe(uint64_t v) {
  size_t i = 0;
  while (i < kBounds.size() && v > kBounds[i]) ++i;
  buckets_[i].Add();
  count_.Add();
  sum_.Add(v);
}

void TextExposition::CountHistogramSum(std::string_view name,
                                       std::span<const CountHistogram* const> parts) {
  const std::string base(name);
  uint64_t cumulative = 0, sum = 0, count = 0;
  for (size_t i = 0; i <= CountHistogram::kBounds.size(); ++i) {
    for (const CountHistogram* h : parts) cumulative += h->BucketCount(i);
    std::string le = i < CountHistogram::kBounds.size() ? std::to_string(CountHistogram::kBounds[i])
                                                        : std::string("+Inf");
    SampleU(base + "_bucket", "le=\"" + le + "\"", cumulative);
  }
  for (const CountHistogram* h : parts) {
    sum += h->Sum();
    count += h->Count();
  }
  SampleU(base + "_sum", "", sum);
  SampleU(base + "_count", "", count);
}

}  // namespace rf::obs
