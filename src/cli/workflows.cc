// workflows apply | list | get.

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <set>

#include "cli/commands.h"
#include "cli/diff.h"
#include "cli/pretty.h"
#include "cli/table.h"
#include "cli/yaml_json.h"
#include "json/parse.h"
#include "json/writer.h"

namespace rf::cli {
namespace {

// One definition to apply, and what applying it would change.
struct Source {
  std::string path;
  std::string name;
  json::Value def;
  std::string body;        // what PUT sends: the definition as compact JSON
  enum class Change { kCreate, kUpdate, kNone } change = Change::kCreate;
  int64_t current_version = 0;
  std::string diff;
};

bool EndsWith(std::string_view s, std::string_view suffix) { return s.ends_with(suffix); }

bool IsDefinitionFile(std::string_view name) {
  return EndsWith(name, ".json") || EndsWith(name, ".yaml") || EndsWith(name, ".yml");
}

// The files named on the command line; a directory stands for its *.json, *.yaml and *.yml
// (not recursive, sorted by name).
Result<std::vector<std::string>> Files(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& a : args) {
    struct stat st;
    if (a == "-") {
      out.push_back(a);
      continue;
    }
    if (::stat(a.c_str(), &st) != 0) return Error{Errc::kInvalidArgument, a + ": " + std::strerror(errno)};
    if (!S_ISDIR(st.st_mode)) {
      out.push_back(a);
      continue;
    }
    DIR* dir = ::opendir(a.c_str());
    if (!dir) return Error{Errc::kInvalidArgument, a + ": " + std::strerror(errno)};
    std::vector<std::string> found;
    while (dirent* e = ::readdir(dir)) {
      std::string name = e->d_name;
      if (name.starts_with(".") || !IsDefinitionFile(name)) continue;
      std::string path = a + (a.ends_with("/") ? "" : "/") + name;
      struct stat fst;
      if (::stat(path.c_str(), &fst) == 0 && S_ISREG(fst.st_mode)) found.push_back(path);
    }
    ::closedir(dir);
    if (found.empty())
      return Error{Errc::kInvalidArgument, a + ": no *.json, *.yaml or *.yml files in this directory"};
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

// A definition file as a value: .json files are JSON, .yaml/.yml YAML; others (and standard
// input) JSON when they start with '{', YAML otherwise.
Result<Source> Load(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return text.error();
  Source src;
  src.path = path;
  bool json_file = EndsWith(path, ".json");
  if (!json_file && !EndsWith(path, ".yaml") && !EndsWith(path, ".yml")) {
    size_t first = text->find_first_not_of(" \t\r\n");
    json_file = first != std::string::npos && (*text)[first] == '{';
  }
  if (json_file) {
    auto v = json::Parse(*text, {.max_bytes = 16 << 20, .max_depth = 512});
    if (!v) return Error{Errc::kInvalidArgument, path + ": not valid JSON: " + v.error().context};
    src.def = std::move(*v);
  } else {
    auto v = YamlToJson(*text);
    if (!v) return Error{Errc::kInvalidArgument, path + ": not valid YAML: " + v.error().context};
    src.def = std::move(*v);
  }
  if (!src.def.is_object())
    return Error{Errc::kInvalidArgument, path + ": a definition is a " + (json_file ? "JSON object" : "YAML mapping") +
                                             " with 'steps'"};
  if (const json::Value* n = src.def.Find("name"); n && n->is_string()) {
    src.name = n->as_string();
  } else if (n) {
    return Error{Errc::kInvalidArgument, path + ": 'name' must be a string"};
  } else if (path == "-") {
    return Error{Errc::kInvalidArgument, "a definition read from standard input needs a 'name'"};
  } else {
    std::string base = path.substr(path.find_last_of('/') + 1);
    src.name = base.substr(0, base.find_last_of('.'));
  }
  if (src.name.empty()) return Error{Errc::kInvalidArgument, path + ": the workflow name is empty"};
  src.body = json::ToString(src.def);
  return src;
}

// Compares with the daemon's current version. kExitOk, or the exit status of a failed call.
int Plan(Session& s, Source& src) {
  Answer a;
  if (int rc = CallRaw(s, "GET", "/v1/workflows/" + Escape(src.name), {}, a); rc != kExitOk) return rc;
  std::string old_text;
  if (a.status == 404) {
    src.change = Source::Change::kCreate;
  } else if (a.status == 200) {
    const json::Value* def = a.json.Find("definition");
    src.current_version = Int(a.json, "version");
    if (def && *def == src.def) {
      src.change = Source::Change::kNone;
      return kExitOk;
    }
    src.change = Source::Change::kUpdate;
    if (def) old_text = Pretty(*def);
  } else {
    std::fprintf(stderr, "ringflow: %s (%s):\n", src.name.c_str(), src.path.c_str());
    ReportServerError(s, a);
    return kExitServerError;
  }
  std::string new_text = Pretty(src.def);
  std::string a_label = src.change == Source::Change::kCreate
                            ? std::string("/dev/null (new workflow ") + src.name + ")"
                            : src.name + " (version " + std::to_string(src.current_version) + ", on the server)";
  src.diff = UnifiedDiff(SplitLines(old_text), SplitLines(new_text), a_label, src.path,
                         {.context = 3, .color = s.color});
  return kExitOk;
}

bool Confirm(const std::string& question) {
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::fflush(stderr);
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  return line == "y" || line == "Y" || line == "yes" || line == "YES" || line == "Yes";
}

}  // namespace

int WorkflowsApply(Session& s) {
  auto files = Files(s.args->words);
  if (!files) return UsageError(files.error().context);
  std::vector<Source> sources;
  std::set<std::string> names;
  for (const std::string& f : *files) {
    auto src = Load(f);
    if (!src) return UsageError(src.error().context);
    if (!names.insert(src->name).second)
      return UsageError("workflow '" + src->name + "' is defined twice (" + f + ")");
    sources.push_back(std::move(*src));
  }
  for (Source& src : sources)
    if (int rc = Plan(s, src); rc != kExitOk) return rc;

  // The diffs are what a person reads before agreeing: stdout for tables, stderr when stdout
  // carries JSON or names for a script.
  FILE* human = s.format == Format::kTable ? stdout : stderr;
  size_t creates = 0, updates = 0, same = 0;
  for (const Source& src : sources) {
    if (src.change == Source::Change::kNone) {
      ++same;
      std::fprintf(human, "%s: unchanged (version %lld)\n", src.name.c_str(),
                   static_cast<long long>(src.current_version));
      continue;
    }
    src.change == Source::Change::kCreate ? ++creates : ++updates;
    std::fputs(src.diff.c_str(), human);
  }
  std::fprintf(human, "%zu to create, %zu to update, %zu unchanged\n", creates, updates, same);
  std::fflush(human);

  const bool dry = s.args->Has("dry-run");
  if (creates + updates > 0 && !dry && !s.args->Has("yes")) {
    if (!s.stdin_tty)
      return UsageError("not applied: standard input is not a terminal to confirm on; pass --yes (or --dry-run)");
    if (!Confirm("Apply to " + s.api->server() + "?")) {
      std::fprintf(stderr, "nothing applied\n");
      return kExitOk;
    }
  }
  int status = kExitOk;
  json::Array results;
  for (const Source& src : sources) {
    json::Value result;
    if (src.change == Source::Change::kNone || dry) {
      const char* change = src.change == Source::Change::kNone ? "none"
                           : src.change == Source::Change::kCreate ? "create" : "update";
      result = json::Object{{"name", src.name}, {"file", src.path}, {"change", change}};
      if (src.current_version) result.Set("version", src.current_version);
    } else {
      Answer a;
      int rc = Call(s, "PUT", "/v1/workflows/" + Escape(src.name), src.body, a);
      if (rc != kExitOk) {
        std::fprintf(stderr, "ringflow: %s (%s) not applied\n", src.name.c_str(), src.path.c_str());
        if (rc == kExitUnreachable) return rc;
        status = kExitServerError;
        continue;
      }
      result = std::move(a.json);
      const int64_t version = Int(result, "version");
      const json::Value* created = result.Find("created");
      const bool is_new = created && created->is_bool() && created->as_bool();
      std::fprintf(human, "%s: %s version %lld\n", src.name.c_str(),
                   !is_new ? "unchanged at" : version == 1 ? "created" : "updated to",
                   static_cast<long long>(version));
    }
    if (s.format == Format::kName) std::printf("%s\n", src.name.c_str());
    results.push_back(std::move(result));
  }
  if (s.format == Format::kJson) PrintJson(json::ToString(json::Value(std::move(results))));
  return status;
}

int WorkflowsList(Session& s) {
  Answer a;
  if (int rc = Call(s, "GET", "/v1/workflows", {}, a); rc != kExitOk) return rc;
  if (s.format == Format::kJson) {
    PrintJson(a.body);
    return kExitOk;
  }
  const json::Value* list = a.json.Find("workflows");
  Table t({"NAME", "VERSION", "VERSIONS", "STEPS"});
  if (list && list->is_array()) {
    for (const json::Value& w : list->as_array()) {
      if (s.format == Format::kName) std::printf("%s\n", Str(w, "name").c_str());
      t.Add({Str(w, "name"), Str(w, "version"), Str(w, "versions"), Str(w, "steps")});
    }
  }
  if (s.format == Format::kTable) std::fputs(t.Render().c_str(), stdout);
  return kExitOk;
}

int WorkflowsGet(Session& s) {
  std::string target = "/v1/workflows/" + Escape(s.args->words[0]);
  if (s.args->Has("version")) target += "?version=" + Escape(s.args->Get("version"));
  Answer a;
  if (int rc = Call(s, "GET", target, {}, a); rc != kExitOk) return rc;
  if (s.format == Format::kJson) {
    PrintJson(a.body);
  } else if (s.format == Format::kName) {
    std::printf("%s\n", Str(a.json, "name").c_str());
  } else {
    std::printf("# %s, version %lld\n", Str(a.json, "name").c_str(),
                static_cast<long long>(Int(a.json, "version")));
    const json::Value* def = a.json.Find("definition");
    std::fputs(Pretty(def ? *def : json::Value()).c_str(), stdout);
  }
  return kExitOk;
}

}  // namespace rf::cli
