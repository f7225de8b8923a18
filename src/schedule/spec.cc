#include "schedule/spec.h"

#include "json/writer.h"
#include "schedule/zone.h"

namespace rf::schedule {
namespace {

bool ValidName(std::string_view n) {
  if (n.empty() || n.size() > 128) return false;
  for (char c : n) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool ValidScheduleName(std::string_view name) { return ValidName(name); }

std::string_view OverlapName(Overlap o) {
  switch (o) {
    case Overlap::kSkip:
      return "skip";
    case Overlap::kQueue:
      return "queue";
    case Overlap::kCancelPrevious:
      return "cancel_previous";
    case Overlap::kAllow:
      return "allow";
  }
  return "skip";
}

std::string_view CatchUpName(CatchUp c) {
  switch (c) {
    case CatchUp::kNone:
      return "none";
    case CatchUp::kLatest:
      return "latest";
    case CatchUp::kAll:
      return "all";
  }
  return "latest";
}

Spec ParseSpec(const json::Value& body, std::string_view url_name, std::vector<SpecError>& errors) {
  Spec s;
  if (!body.is_object()) {
    errors.push_back({"", "a schedule is a JSON object: {\"workflow\", \"cron\", ...}"});
    return s;
  }
  bool have_workflow = false, have_cron = false;
  for (const auto& [k, v] : body.as_object()) {
    const std::string at = "/" + k;
    if (k == "name") {
      if (!v.is_string() || v.as_string() != url_name)
        errors.push_back(
            {at, "name must equal the name in the URL ('" + std::string(url_name) + "')"});
    } else if (k == "workflow") {
      have_workflow = true;
      if (!v.is_string() || !ValidName(v.as_string()))
        errors.push_back({at, "workflow must be a workflow name: 1 to 128 of A-Z a-z 0-9 . _ -"});
      else
        s.workflow = v.as_string();
    } else if (k == "version") {
      if (!v.is_int() || v.as_int() < 1)
        errors.push_back({at, "version must be a positive integer (leave it out for the latest)"});
      else
        s.version = v.as_int();
    } else if (k == "input") {
      s.input = v;
    } else if (k == "cron") {
      have_cron = true;
      if (!v.is_string()) {
        errors.push_back(
            {at, "cron must be a string such as \"*/5 * * * *\", \"@hourly\" or \"@every 30s\""});
      } else {
        auto c = ParseCron(v.as_string());
        if (!c) {
          errors.push_back({at, c.error().context});
        } else {
          s.cron = *c;
          s.cron_text = v.as_string();
        }
      }
    } else if (k == "timezone") {
      if (!v.is_string() || !ValidZoneName(v.as_string()))
        errors.push_back({at, "timezone must be an IANA time zone name such as \"Europe/Berlin\""});
      else
        s.timezone = v.as_string();
    } else if (k == "overlap") {
      const std::string t = v.is_string() ? v.as_string() : "";
      if (t == "skip")
        s.overlap = Overlap::kSkip;
      else if (t == "queue")
        s.overlap = Overlap::kQueue;
      else if (t == "cancel_previous")
        s.overlap = Overlap::kCancelPrevious;
      else if (t == "allow")
        s.overlap = Overlap::kAllow;
      else
        errors.push_back(
            {at, "overlap must be \"skip\", \"queue\", \"cancel_previous\" or \"allow\""});
    } else if (k == "catch_up") {
      const std::string t = v.is_string() ? v.as_string() : "";
      if (t == "none")
        s.catch_up = CatchUp::kNone;
      else if (t == "latest")
        s.catch_up = CatchUp::kLatest;
      else if (t == "all")
        s.catch_up = CatchUp::kAll;
      else
        errors.push_back(
            {at, "catch_up must be \"none\", \"latest\" or \"all\" (all: at most 100 fires)"});
    } else if (k == "paused") {
      if (!v.is_bool())
        errors.push_back({at, "paused must be true or false"});
      else
        s.paused = v.as_bool();
    } else {
      errors.push_back(
          {at,
           "unknown field '" + k.substr(0, 64) +
               "' (expected workflow, version, input, cron, timezone, overlap, catch_up, paused)"});
    }
  }
  if (!have_workflow) errors.push_back({"/workflow", "workflow is required"});
  if (!have_cron) errors.push_back({"/cron", "cron is required"});
  return s;
}

std::string SpecJson(const Spec& s) {
  json::Object o{{"workflow", s.workflow}};
  if (s.version > 0) o.emplace_back("version", s.version);
  o.emplace_back("input", s.input);
  o.emplace_back("cron", s.cron_text);
  o.emplace_back("timezone", s.timezone);
  o.emplace_back("overlap", std::string(OverlapName(s.overlap)));
  o.emplace_back("catch_up", std::string(CatchUpName(s.catch_up)));
  return json::ToString(json::Value(std::move(o)));
}

}  // namespace rf::schedule
