#include "api/quotas.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "base/buffer.h"
#include "engine/namespace_usage.h"
#include "quota/quota.h"

using namespace rf;

namespace {

std::shared_ptr<const quota::Config> Limits(const char* json) {
  auto c = quota::ParseConfig(json);
  REQUIRE(c);
  return std::make_shared<const quota::Config>(std::move(*c));
}

struct Reply {
  Buffer body;
  std::string headers;
  http::Response resp{body, headers};
};

}  // namespace

TEST_SUITE("api.quotas") {
  TEST_CASE("a namespace at its retained_history_bytes gets 429 quota_exceeded; others start") {
    auto usage = std::make_unique<engine::NamespaceUsage>();
    api::Quotas q(2, Limits(R"({"namespaces": {"full": {"retained_history_bytes": 1000}}})"), nullptr,
                  usage.get(), 15 * kSeconds);
    usage->SetHistoryBytes("full", 999);
    usage->SetHistoryBytes("other", 1'000'000);  // no limit of its own
    Reply ok;
    CHECK(q.AdmitStart(0, "full", ok.resp));  // under: admitted
    usage->SetHistoryBytes("full", 1000);
    Reply refused;
    CHECK_FALSE(q.AdmitStart(1, "full", refused.resp));
    CHECK(refused.resp.status == 429);
    const std::string body(refused.body.view());
    CHECK(body.find("\"quota_exceeded\"") != std::string::npos);
    CHECK(body.find("retained_history_bytes") != std::string::npos);
    CHECK(refused.headers.find("Retry-After: 15\r\n") != std::string::npos);
    CHECK_FALSE(q.AdmitScheduledStart(0, "full"));  // schedules too
    Reply other;
    CHECK(q.AdmitStart(0, "other", other.resp));
    std::string metrics;
    q.RenderMetrics(*usage, metrics);
    CHECK(metrics.find("rf_quota_rejected_total{limit=\"retained_history_bytes\"} 2\n") != std::string::npos);
    CHECK(metrics.find("rf_namespace_history_bytes{namespace=\"full\"} 1000\n") != std::string::npos);
    // Only default and the namespaces the file names: a bounded label set.
    CHECK(metrics.find("namespace=\"other\"") == std::string::npos);
    // Retention brought it under, or a reload raised the limit: admitted again.
    usage->SetHistoryBytes("full", 10);
    Reply again;
    CHECK(q.AdmitStart(1, "full", again.resp));
    usage->SetHistoryBytes("full", 5000);
    q.SetConfig(1, Limits(R"({"namespaces": {"full": {"retained_history_bytes": "1M"}}})"));
    Reply raised;
    CHECK(q.AdmitStart(1, "full", raised.resp));
  }
}
