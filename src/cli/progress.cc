#include "cli/progress.h"

#include <algorithm>
#include <ctime>

#include "cli/session.h"
#include "cli/table.h"
#include "json/writer.h"

namespace rf::cli {
namespace {

struct Look {
  const char* utf8;
  const char* ascii;
  const char* color;
};

Look LookOf(std::string_view status) {
  if (status == "succeeded") return {"\xE2\x9C\x93", "ok", "\x1b[32m"};        // ✓
  if (status == "failed") return {"\xE2\x9C\x97", "xx", "\x1b[31m"};           // ✗
  if (status == "running") return {"\xE2\x96\xB6", ">>", "\x1b[33m"};          // ▶
  if (status == "retrying") return {"\xE2\x86\xBB", "r>", "\x1b[33m"};         // ↻
  if (status == "waiting") return {"\xE2\x97\xB7", "..", "\x1b[36m"};          // ◷
  if (status == "skipped") return {"\xE2\x86\xB7", "--", "\x1b[2m"};           // ↷
  if (status == "cancelled") return {"\xE2\x8A\x98", "-x", "\x1b[35m"};        // ⊘
  return {"\xC2\xB7", " .", "\x1b[2m"};                                        // · pending
}

// Cuts a line to `columns` code points (escape sequences are added after cutting).
std::string Fit(const std::string& line, int columns) {
  return Truncate(line, static_cast<size_t>(std::max(columns, 20)) - 1);
}

std::string Compact(const json::Value* v) { return v && !v->is_null() ? json::ToString(*v) : std::string(); }

// From the first attempt's start to the last one's end (or now, while one runs).
int64_t StepElapsed(const json::Value& step, int64_t now_ms) {
  const json::Value* attempts = step.Find("attempts");
  if (!attempts || !attempts->is_array() || attempts->as_array().empty()) return -1;
  const auto& list = attempts->as_array();
  int64_t start = Int(list.front(), "started_ms");
  int64_t end = Int(list.back(), "finished_ms");
  if (end == 0) end = now_ms;
  return end - start;
}

std::string Clock(int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  tm t;
  gmtime_r(&secs, &t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

bool IsTerminal(std::string_view status) {
  return status == "succeeded" || status == "failed" || status == "cancelled";
}

std::string RenderProgress(const json::Value& run, int64_t now_ms, const ProgressStyle& style) {
  const std::string status = Str(run, "status");
  const int64_t created = Int(run, "created_ms"), finished = Int(run, "finished_ms");
  const int64_t elapsed = (finished ? finished : now_ms) - created;
  const char* reset = style.color ? "\x1b[0m" : "";
  const char* bold = style.color ? "\x1b[1m" : "";
  std::string out;
  {
    Look look = LookOf(status);
    std::string line = "run " + Str(run, "id") + "  " + Str(run, "workflow") + " v" + Str(run, "version") +
                       "  " + status + "  " + FormatDuration(elapsed);
    line = Fit(OneLine(line), style.columns);
    out += std::string(bold) + (style.color ? look.color : "") + line + reset + "\n";
  }
  const json::Value* steps = run.Find("steps");
  if (!steps || !steps->is_array()) return out;
  size_t id_w = 0, type_w = 0;
  for (const json::Value& st : steps->as_array()) {
    id_w = std::max(id_w, DisplayWidth(Str(st, "id")));
    type_w = std::max(type_w, DisplayWidth(Str(st, "type")));
  }
  id_w = std::min<size_t>(id_w, 40);
  for (const json::Value& st : steps->as_array()) {
    const std::string s = Str(st, "status");
    Look look = LookOf(s);
    std::string id = Truncate(OneLine(Str(st, "id")), 40), type = OneLine(Str(st, "type"));
    std::string line = "  " + std::string(style.utf8 ? look.utf8 : look.ascii) + " " + id;
    line.append(id_w - DisplayWidth(id) + 2, ' ');
    line += type;
    line.append(type_w - DisplayWidth(type) + 2, ' ');
    std::string tail = s;
    if (tail.size() < 9) tail.append(9 - tail.size(), ' ');  // "succeeded" is the widest
    const json::Value* attempts = st.Find("attempts");
    const size_t n = attempts && attempts->is_array() ? attempts->as_array().size() : 0;
    if (n > 1) tail += " (attempt " + std::to_string(n) + ")";
    if (int64_t e = StepElapsed(st, now_ms); e >= 0 && s != "pending") tail += "  " + FormatDuration(e);
    if (int64_t due = Int(st, "due_ms"); due > 0 && (s == "waiting" || s == "retrying"))
      tail += due > now_ms ? "  due in " + FormatDuration(due - now_ms) : "  due now";
    if (std::string err = Str(st, "error"); !err.empty() && s != "succeeded") tail += "  " + err;
    line = OneLine(line + tail);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    line = Fit(line, style.columns);
    if (style.color) line = std::string(look.color) + line + reset;
    out += line + "\n";
  }
  return out;
}

std::string EventLine(const json::Value& event) {
  std::string type = Str(event, "type");
  std::string line = Clock(Int(event, "at_ms")) + "  " + type;
  line.append(type.size() < 15 ? 15 - type.size() : 1, ' ');
  if (std::string step = Str(event, "step"); !step.empty()) line += step;
  const json::Value* data = event.Find("data");
  if (data && data->is_object()) {
    if (type == "run.created") {
      line += Str(*data, "workflow") + " v" + Str(*data, "version");
    } else {
      std::string detail;
      if (int64_t n = Int(*data, "attempt"); n > 0) detail += "  attempt " + std::to_string(n);
      if (std::string err = Str(*data, "error"); !err.empty()) detail += (detail.empty() ? "" : ": ") + err;
      if (std::string step = Str(*data, "step"); !step.empty() && type.starts_with("run."))
        detail += " (step " + step + ")";
      if (int64_t at = Int(*data, "retry_at_ms"); at > 0) detail += "  (retry at " + Clock(at) + ")";
      line += detail;
    }
  }
  line = OneLine(line);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

std::string RenderRun(const json::Value& run) {
  std::string out;
  auto field = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    std::string label = name;
    label.resize(10, ' ');
    out += label + OneLine(value) + "\n";
  };
  const int64_t created = Int(run, "created_ms"), finished = Int(run, "finished_ms");
  field("run", Str(run, "id"));
  field("workflow", Str(run, "workflow") + " (version " + Str(run, "version") + ")");
  field("status", Str(run, "status"));
  field("priority", Str(run, "priority"));
  field("key", Str(run, "idempotency_key"));
  field("created", FormatTime(created));
  if (finished) field("finished", FormatTime(finished) + " (" + FormatDuration(finished - created) + ")");
  if (const json::Value* err = run.Find("error"); err && err->is_object()) {
    std::string text = Str(*err, "message");
    if (std::string step = Str(*err, "step"); !step.empty()) text += " (step " + step + ")";
    field("error", text);
  }
  field("input", Truncate(Compact(run.Find("input")), 400));
  field("output", Truncate(Compact(run.Find("output")), 400));
  const json::Value* steps = run.Find("steps");
  if (steps && steps->is_array() && !steps->as_array().empty()) {
    Table t({"STEP", "TYPE", "STATUS", "ATTEMPTS", "DURATION", "ERROR"});
    t.SetMaxWidth(5, 80);
    for (const json::Value& st : steps->as_array()) {
      const json::Value* attempts = st.Find("attempts");
      const size_t n = attempts && attempts->is_array() ? attempts->as_array().size() : 0;
      int64_t e = StepElapsed(st, NowMs());
      std::string status = Str(st, "status");
      bool done = status == "succeeded" || status == "failed" || status == "skipped" || status == "cancelled";
      t.Add({Str(st, "id"), Str(st, "type"), status, std::to_string(n),
             e >= 0 ? FormatDuration(e) + (done ? "" : "+") : "", Str(st, "error")});
    }
    out += "\n" + t.Render();
  }
  return out;
}

std::string Summary(const json::Value& run) {
  const std::string status = Str(run, "status");
  const int64_t created = Int(run, "created_ms"), finished = Int(run, "finished_ms");
  std::string line = "run " + Str(run, "id") + " " + status;
  if (finished) line += " in " + FormatDuration(finished - created);
  if (const json::Value* err = run.Find("error"); err && err->is_object()) {
    line += ": " + Str(*err, "message");
    if (std::string step = Str(*err, "step"); !step.empty()) line += " (step " + step + ")";
  }
  return OneLine(line);
}

}  // namespace rf::cli
