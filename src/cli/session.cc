#include "cli/session.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "json/parse.h"
#include "json/writer.h"

namespace rf::cli {
namespace {

constexpr size_t kMaxFileBytes = 16 << 20;

json::Value ParseBody(std::string_view body) {
  auto v = json::Parse(body, {.max_bytes = 64 << 20, .max_depth = 1024});
  return v ? std::move(*v) : json::Value();
}

}  // namespace

int CallRaw(Session& s, std::string_view method, const std::string& target, std::string_view body,
            Answer& out, std::vector<std::pair<std::string, std::string>> headers) {
  auto r = s.api->Call(method, target, body, std::move(headers));
  if (!r) {
    std::fprintf(stderr, "ringflow: %s\n", r.error().context.c_str());
    return r.error().code == Errc::kInvalidArgument ? kExitUsage : kExitUnreachable;
  }
  out.status = r->status;
  out.body = std::move(r->body);
  out.json = ParseBody(out.body);
  return kExitOk;
}

int Call(Session& s, std::string_view method, const std::string& target, std::string_view body,
         Answer& out, std::vector<std::pair<std::string, std::string>> headers) {
  if (int rc = CallRaw(s, method, target, body, out, std::move(headers)); rc != kExitOk) return rc;
  if (out.status >= 200 && out.status < 300) return kExitOk;
  ReportServerError(s, out);
  return kExitServerError;
}

void ReportServerError(const Session& s, const Answer& a) {
  const json::Value* err = a.json.Find("error");
  if (err && err->is_object()) {
    std::string code = Str(*err, "code"), message = Str(*err, "message");
    std::fprintf(stderr, "ringflow: %s: %s (HTTP %d)\n", code.c_str(), message.c_str(), a.status);
    const json::Value* list = err->Find("errors");
    if (list && list->is_array() && list->as_array().size() > 1) {
      for (const json::Value& e : list->as_array())
        std::fprintf(stderr, "  %s: %s\n", Str(e, "field").c_str(), Str(e, "message").c_str());
    } else if (std::string field = Str(*err, "field"); !field.empty()) {
      std::fprintf(stderr, "  at %s\n", field.c_str());
    }
  } else {
    std::string text = a.body.substr(0, 300);
    for (char& c : text)
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    std::fprintf(stderr, "ringflow: HTTP %d%s%s\n", a.status, text.empty() ? "" : ": ", text.c_str());
  }
  if (s.format == Format::kJson && !a.body.empty()) PrintJson(a.body);
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "ringflow: %s\n", message.c_str());
  return kExitUsage;
}

Result<std::string> ReadFile(const std::string& path) {
  std::string data;
  if (path == "-") {
    data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Error{Errc::kInvalidArgument, path + ": " + std::strerror(errno)};
    if (S_ISDIR(st.st_mode)) return Error{Errc::kInvalidArgument, path + " is a directory"};
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error{Errc::kInvalidArgument, path + ": " + std::strerror(errno)};
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (data.size() > kMaxFileBytes)
    return Error{Errc::kInvalidArgument, path + " is larger than 16 MiB"};
  return data;
}

Result<std::string> JsonArgument(std::string_view option, std::string_view arg) {
  std::string text(arg);
  std::string where = "--" + std::string(option);
  if (arg.starts_with("@")) {
    auto data = ReadFile(std::string(arg.substr(1)));
    if (!data) return Error{Errc::kInvalidArgument, where + ": " + data.error().context};
    text = std::move(*data);
    where += " " + std::string(arg);
  }
  auto v = json::Parse(text, {.max_bytes = kMaxFileBytes, .max_depth = 512});
  if (!v) return Error{Errc::kInvalidArgument, where + " is not JSON: " + v.error().context};
  return json::ToString(*v);
}

void PrintJson(std::string_view body) {
  std::fwrite(body.data(), 1, body.size(), stdout);
  if (body.empty() || body.back() != '\n') std::fputc('\n', stdout);
}

std::string FormatTime(int64_t ms) {
  if (ms <= 0) return "-";
  time_t secs = static_cast<time_t>(ms / 1000);
  tm t;
  gmtime_r(&secs, &t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &t);
  return buf;
}

std::string FormatDuration(int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[32];
  if (ms < 1000) std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  else if (ms < 60'000) std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms / 100) / 10.0);
  else if (ms < 3'600'000)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms / 1000 % 60));
  else if (ms < 86'400'000)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms / 60'000 % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(ms / 86'400'000),
                  static_cast<long long>(ms / 3'600'000 % 24));
  return buf;
}

int64_t NowMs() { return WallNow() / kMillis; }

std::string Str(const json::Value& v, std::string_view key) {
  const json::Value* m = v.Find(key);
  if (!m || m->is_null()) return {};
  if (m->is_string()) return m->as_string();
  return json::ToString(*m);
}

int64_t Int(const json::Value& v, std::string_view key) {
  const json::Value* m = v.Find(key);
  if (!m || !m->is_number()) return 0;
  return m->is_int() ? m->as_int() : static_cast<int64_t>(m->as_double());
}

}  // namespace rf::cli
