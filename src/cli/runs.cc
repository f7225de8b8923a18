// runs start | get | list | cancel | retry | signal (watch: watch.cc).

#include <cstdio>

#include "base/duration.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/table.h"
#include "cli/watch.h"
#include "json/writer.h"

namespace rf::cli {
namespace {

std::string RunTarget(const std::string& id, std::string_view tail = {}) {
  return "/v1/runs/" + Escape(id) + std::string(tail);
}

// Prints a run the way the format asks.
void PrintRun(const Session& s, const Answer& a) {
  if (s.format == Format::kJson) PrintJson(a.body);
  else if (s.format == Format::kName) std::printf("%s\n", Str(a.json, "id").c_str());
  else std::fputs(RenderRun(a.json).c_str(), stdout);
}

// A command on one run (cancel, retry, signal): "run <id>: <status>" or the run's JSON.
int RunCommand(Session& s, const std::string& target, std::string_view body, const char* done) {
  Answer a;
  if (int rc = Call(s, "POST", target, body, a); rc != kExitOk) return rc;
  if (s.format == Format::kTable)
    std::printf("run %s %s (status %s)\n", Str(a.json, "id").c_str(), done, Str(a.json, "status").c_str());
  else PrintRun(s, a);
  return kExitOk;
}

}  // namespace

int RunsStart(Session& s) {
  const Args& args = *s.args;
  std::string body = "{";
  if (args.Has("input")) {
    auto input = JsonArgument("input", args.Get("input"));
    if (!input) return UsageError(input.error().context);
    body += "\"input\":" + *input;
  }
  if (args.Has("priority")) {
    std::string p = args.Get("priority");
    if (p != "critical" && p != "default" && p != "low")
      return UsageError("--priority must be critical, default or low, not '" + p + "'");
    body += std::string(body.size() > 1 ? "," : "") + "\"priority\":\"" + p + "\"";
  }
  body += "}";
  std::vector<std::pair<std::string, std::string>> headers;
  if (args.Has("idempotency-key")) headers.emplace_back("Idempotency-Key", args.Get("idempotency-key"));
  Answer a;
  int rc = Call(s, "POST", "/v1/workflows/" + Escape(args.words[0]) + "/runs", body, a, std::move(headers));
  if (rc != kExitOk) return rc;
  const std::string id = Str(a.json, "id");
  if (!args.Has("wait")) {
    if (s.format == Format::kTable) {
      if (a.status == 200)
        std::printf("run %s already exists for this idempotency key (status %s)\n", id.c_str(),
                    Str(a.json, "status").c_str());
      else
        std::printf("run %s started (workflow %s, version %s)\n", id.c_str(), Str(a.json, "workflow").c_str(),
                    Str(a.json, "version").c_str());
    } else {
      PrintRun(s, a);
    }
    return kExitOk;
  }
  if (s.format == Format::kTable && !s.stdout_tty) std::printf("run %s started\n", id.c_str());
  std::fflush(stdout);
  // Live progress only for a person at a terminal; scripts get the finished run.
  Answer final_run;
  rc = Follow(s, id, s.format == Format::kTable && s.stdout_tty ? FollowMode::kLive : FollowMode::kQuiet,
              final_run);
  if (rc != kExitOk && rc != kExitRunFailed) return rc;
  if (s.format != Format::kTable) {
    PrintRun(s, final_run);
  } else if (s.stdout_tty) {  // the live block showed the steps; its summary line the outcome
    if (const json::Value* out = final_run.json.Find("output"); out && !out->is_null())
      std::printf("output  %s\n", OneLine(json::ToString(*out)).c_str());
  } else {
    std::fputs(RenderRun(final_run.json).c_str(), stdout);
  }
  return rc;
}

int RunsGet(Session& s) {
  Answer a;
  if (int rc = Call(s, "GET", RunTarget(s.args->words[0]), {}, a); rc != kExitOk) return rc;
  PrintRun(s, a);
  return kExitOk;
}

int RunsList(Session& s) {
  const Args& args = *s.args;
  std::string q;
  for (const char* key : {"workflow", "status", "limit", "cursor"})
    if (args.Has(key)) q += (q.empty() ? "?" : "&") + std::string(key) + "=" + Escape(args.Get(key));
  Answer a;
  if (int rc = Call(s, "GET", "/v1/runs" + q, {}, a); rc != kExitOk) return rc;
  if (s.format == Format::kJson) {
    PrintJson(a.body);
    return kExitOk;
  }
  Table t({"ID", "WORKFLOW", "VERSION", "STATUS", "CREATED", "DURATION"});
  const json::Value* runs = a.json.Find("runs");
  const int64_t now = NowMs();
  if (runs && runs->is_array()) {
    for (const json::Value& r : runs->as_array()) {
      if (s.format == Format::kName) std::printf("%s\n", Str(r, "id").c_str());
      const int64_t created = Int(r, "created_ms"), finished = Int(r, "finished_ms");
      t.Add({Str(r, "id"), Str(r, "workflow"), Str(r, "version"), Str(r, "status"), FormatTime(created),
             finished ? FormatDuration(finished - created) : FormatDuration(now - created) + "+"});
    }
  }
  if (s.format == Format::kTable) {
    std::fputs(t.Render().c_str(), stdout);
    if (std::string next = Str(a.json, "next_cursor"); !next.empty())
      std::fprintf(stderr, "more: --cursor %s\n", next.c_str());
  }
  return kExitOk;
}

int RunsWatch(Session& s) {
  FollowMode mode = s.format == Format::kJson ? FollowMode::kJsonLines
                    : s.format == Format::kName ? FollowMode::kQuiet
                    : s.stdout_tty              ? FollowMode::kLive
                                                : FollowMode::kLines;
  Answer final_run;
  int rc = Follow(s, s.args->words[0], mode, final_run);
  if (s.format == Format::kName && (rc == kExitOk || rc == kExitRunFailed))
    std::printf("%s\n", Str(final_run.json, "status").c_str());
  return rc;
}

int RunsCancel(Session& s) { return RunCommand(s, RunTarget(s.args->words[0], "/cancel"), {}, "cancelled"); }

int RunsRetry(Session& s) { return RunCommand(s, RunTarget(s.args->words[0], "/retry"), {}, "resumed"); }

int RunsSignal(Session& s) {
  std::string payload;
  if (s.args->Has("payload")) {
    auto p = JsonArgument("payload", s.args->Get("payload"));
    if (!p) return UsageError(p.error().context);
    payload = std::move(*p);
  }
  const std::string target = RunTarget(s.args->words[0], "/signals/" + Escape(s.args->words[1]));
  // The daemon takes an empty body as a null payload; a POST without a body still needs a type.
  Answer a;
  int rc = Call(s, "POST", target, payload, a,
                payload.empty() ? std::vector<std::pair<std::string, std::string>>{{"Content-Type", "application/json"}}
                                : std::vector<std::pair<std::string, std::string>>{});
  if (rc != kExitOk) return rc;
  if (s.format == Format::kTable)
    std::printf("run %s signalled %s (status %s)\n", Str(a.json, "id").c_str(), s.args->words[1].c_str(),
                Str(a.json, "status").c_str());
  else PrintRun(s, a);
  return kExitOk;
}

int DeadLetterList(Session& s) {
  const Args& args = *s.args;
  std::string q;
  for (const char* key : {"workflow", "limit", "cursor"})
    if (args.Has(key)) q += (q.empty() ? "?" : "&") + std::string(key) + "=" + Escape(args.Get(key));
  Answer a;
  if (int rc = Call(s, "GET", "/v1/dead-letter" + q, {}, a); rc != kExitOk) return rc;
  if (s.format == Format::kJson) {
    PrintJson(a.body);
    return kExitOk;
  }
  Table t({"ID", "WORKFLOW", "VERSION", "FINISHED", "STEP", "ERROR"});
  t.SetMaxWidth(5, 80);
  const json::Value* runs = a.json.Find("runs");
  if (runs && runs->is_array()) {
    for (const json::Value& r : runs->as_array()) {
      if (s.format == Format::kName) std::printf("%s\n", Str(r, "id").c_str());
      t.Add({Str(r, "id"), Str(r, "workflow"), Str(r, "version"), FormatTime(Int(r, "finished_ms")),
             Str(r, "step"), Str(r, "error")});
    }
  }
  if (s.format == Format::kTable) {
    std::fputs(t.Render().c_str(), stdout);
    if (std::string next = Str(a.json, "next_cursor"); !next.empty())
      std::fprintf(stderr, "more: --cursor %s\n", next.c_str());
  }
  return kExitOk;
}

int DeadLetterRetry(Session& s) {
  const Args& args = *s.args;
  std::vector<std::string> ids = args.words;
  if (args.Has("all") == !ids.empty())
    return UsageError("dead-letter retry takes run ids or --all, not both or neither");
  if (args.Has("workflow") && !args.Has("all")) return UsageError("--workflow goes with --all");
  if (args.Has("all")) {
    // Collect first, then retry: a retried run leaves the list, which would shift the pages.
    std::string cursor;
    do {
      std::string q = "?limit=1000";
      if (args.Has("workflow")) q += "&workflow=" + Escape(args.Get("workflow"));
      if (!cursor.empty()) q += "&cursor=" + Escape(cursor);
      Answer a;
      if (int rc = Call(s, "GET", "/v1/dead-letter" + q, {}, a); rc != kExitOk) return rc;
      if (const json::Value* runs = a.json.Find("runs"); runs && runs->is_array())
        for (const json::Value& r : runs->as_array()) ids.push_back(Str(r, "id"));
      cursor = Str(a.json, "next_cursor");
    } while (!cursor.empty());
  }
  int status = kExitOk;
  json::Array results;
  size_t retried = 0;
  for (const std::string& id : ids) {
    Answer a;
    int rc = Call(s, "POST", RunTarget(id, "/retry"), {}, a);
    if (rc == kExitUnreachable) return rc;
    if (rc != kExitOk) {
      std::fprintf(stderr, "ringflow: run %s not retried\n", id.c_str());
      status = kExitServerError;
      continue;
    }
    ++retried;
    if (s.format == Format::kTable)
      std::printf("run %s resumed (status %s)\n", id.c_str(), Str(a.json, "status").c_str());
    else if (s.format == Format::kName)
      std::printf("%s\n", id.c_str());
    results.push_back(std::move(a.json));
  }
  if (s.format == Format::kJson) PrintJson(json::ToString(json::Value(std::move(results))));
  if (s.format == Format::kTable)
    std::printf("%zu of %zu run(s) retried\n", retried, ids.size());
  return status;
}

}  // namespace rf::cli
