#include "cli/args.h"

#include <algorithm>
#include <cstdint>

namespace rf::cli {

const std::vector<OptionSpec>& GlobalOptions() {
  static const std::vector<OptionSpec> kGlobal = {
      {"server", 0, true, "URL", "the daemon's API (env RINGFLOW_SERVER; default http://127.0.0.1:8080)"},
      {"api-key", 0, true, "KEY", "sent as Authorization: Bearer KEY (env RINGFLOW_API_KEY)"},
      {"ca-file", 0, true, "PEM", "https --server: the CAs its certificate must chain to (env RINGFLOW_CA_FILE; default the system's bundle)"},
      {"namespace", 'n', true, "NS", "act in namespace NS (env RINGFLOW_NAMESPACE; default: default)"},
      {"output", 'o', true, "FORMAT", "table (default), json (the server's JSON) or name (ids/names, one a line)"},
      {"timeout", 0, true, "DURATION", "bound on each request, connect included (default 30s)"},
      {"no-color", 0, false, nullptr, "no ANSI colours (also when NO_COLOR is set or stdout is not a terminal)"},
      {"help", 'h', false, nullptr, "show help"},
  };
  return kGlobal;
}

const std::vector<OptionSpec>& CommandOptions() {
  static const std::vector<OptionSpec> kOwn = {
      {"yes", 'y', false, nullptr, "apply without asking (required when stdin is not a terminal)"},
      {"dry-run", 0, false, nullptr, "show the diff, apply nothing"},
      {"version", 0, true, "N", "that version instead of the latest"},
      {"input", 0, true, "JSON|@FILE", "the run's input (JSON text, or @file to read it from a file; @- for stdin)"},
      {"idempotency-key", 0, true, "KEY", "starts at most one run per workflow and key"},
      {"priority", 0, true, "PRIORITY", "critical, default or low"},
      {"wait", 0, false, nullptr, "wait until the run finished (live progress on a terminal); exit 4 unless it succeeded"},
      {"workflow", 0, true, "NAME", "only runs of this workflow"},
      {"status", 0, true, "STATUS", "only runs in this status (pending, running, waiting, succeeded, failed, cancelled)"},
      {"limit", 0, true, "N", "at most N entries (1..1000, default 100)"},
      {"cursor", 0, true, "CURSOR", "continue a listing where the previous page ended"},
      {"payload", 0, true, "JSON|@FILE", "the signal's payload (default null)"},
      {"all", 0, false, nullptr, "every run in the dead-letter list (with --workflow: of that workflow)"},
  };
  return kOwn;
}

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> kCommands = {
      {"workflows", "apply", "FILE|DIR...", 1, SIZE_MAX, {"yes", "dry-run"},
       "register definitions from YAML or JSON files (a DIR: its *.json, *.yaml, *.yml), showing the diff against the current version first"},
      {"workflows", "list", "", 0, 0, {}, "list workflows with their latest version"},
      {"workflows", "get", "NAME", 1, 1, {"version"}, "show a workflow's definition"},
      {"runs", "start", "WORKFLOW", 1, 1, {"input", "idempotency-key", "priority", "wait"}, "start a run"},
      {"runs", "get", "ID", 1, 1, {}, "show a run with its steps"},
      {"runs", "list", "", 0, 0, {"workflow", "status", "limit", "cursor"}, "list runs, newest first"},
      {"runs", "watch", "ID", 1, 1, {}, "follow a run live until it finished; exit 4 unless it succeeded"},
      {"runs", "cancel", "ID", 1, 1, {}, "cancel a run"},
      {"runs", "retry", "ID", 1, 1, {}, "resume a failed run from its failed steps"},
      {"runs", "signal", "ID STEP", 2, 2, {"payload"}, "complete a waiting approval step"},
      {"dead-letter", "list", "", 0, 0, {"workflow", "limit", "cursor"}, "list failed runs, newest first"},
      {"dead-letter", "retry", "[ID...]", 0, SIZE_MAX, {"all", "workflow"}, "retry the given failed runs, or --all"},
      {"completion", "bash", "", 0, 0, {}, "print the bash completion script (source <(ringflow completion bash))"},
  };
  return kCommands;
}

const OptionSpec* FindOption(std::string_view name) {
  for (const auto* table : {&GlobalOptions(), &CommandOptions()})
    for (const OptionSpec& o : *table)
      if (name == o.name || (name.size() == 1 && name[0] == o.short_name && o.short_name)) return &o;
  return nullptr;
}

bool IsGroup(std::string_view word) {
  for (const CommandSpec& c : Commands())
    if (word == c.group) return true;
  return false;
}

namespace {

Error Usage(std::string message) { return Error{Errc::kInvalidArgument, std::move(message)}; }

std::string Verbs(std::string_view group) {
  std::string out;
  for (const CommandSpec& c : Commands())
    if (group == c.group) out += (out.empty() ? "" : ", ") + std::string(c.verb);
  return out;
}

std::string Groups() {
  std::string out;
  for (const CommandSpec& c : Commands())
    if (out.find(c.group) == std::string::npos) out += (out.empty() ? "" : ", ") + std::string(c.group);
  return out;
}

}  // namespace

Result<Args> ParseArgs(const std::vector<std::string>& argv) {
  Args a;
  std::vector<std::string> words;
  std::vector<std::string> given;  // option names in order, for the per-command check
  bool only_words = false;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (only_words || arg.size() < 2 || arg[0] != '-' || arg == "-") {
      words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_words = true;
      continue;
    }
    std::string name, value;
    bool has_value = false;
    if (arg[1] == '-') {
      std::string body = arg.substr(2);
      size_t eq = body.find('=');
      name = body.substr(0, eq);
      if (eq != std::string::npos) value = body.substr(eq + 1), has_value = true;
    } else {
      if (arg.size() != 2) return Usage("unknown option " + arg + " (short options stand alone: -o json)");
      name = arg.substr(1);
    }
    const OptionSpec* spec = FindOption(name);
    if (!spec) return Usage("unknown option " + arg + " (see ringflow help)");
    name = spec->name;
    if (spec->takes_value && !has_value) {
      if (i + 1 >= argv.size()) return Usage("option --" + name + " needs a value (" + spec->value_name + ")");
      value = argv[++i];
    } else if (!spec->takes_value && has_value) {
      return Usage("option --" + name + " takes no value");
    }
    if (a.options.count(name) && name != "help") return Usage("option --" + name + " given twice");
    a.options[name] = value;
    given.push_back(name);
  }
  if (a.options.count("help")) a.help = true;
  if (!words.empty() && words[0] == "help") {
    a.help = true;
    words.erase(words.begin());
  }
  if (a.help) {
    if (!words.empty() && IsGroup(words[0])) a.help_group = words[0];
    return a;
  }
  if (words.empty()) return Usage("no command given (" + Groups() + ")");
  if (!IsGroup(words[0])) return Usage("unknown command '" + words[0] + "' (" + Groups() + ")");
  if (words.size() < 2)
    return Usage(words[0] + " needs a subcommand: " + Verbs(words[0]));
  for (const CommandSpec& c : Commands())
    if (words[0] == c.group && words[1] == c.verb) a.command = &c;
  if (!a.command)
    return Usage("unknown command '" + words[0] + " " + words[1] + "' (" + words[0] + ": " + Verbs(words[0]) + ")");
  const CommandSpec& c = *a.command;
  const std::string full = std::string(c.group) + " " + c.verb;
  for (const std::string& name : given) {
    bool global = std::any_of(GlobalOptions().begin(), GlobalOptions().end(),
                              [&](const OptionSpec& o) { return name == o.name; });
    bool own = std::find(c.options.begin(), c.options.end(), name) != c.options.end();
    if (!global && !own) return Usage(full + " does not take --" + name);
  }
  a.words.assign(words.begin() + 2, words.end());
  if (a.words.size() < c.min_args)
    return Usage(full + " needs " + (c.args[0] ? c.args : "arguments") + " (ringflow " + full + " " + c.args + ")");
  if (a.words.size() > c.max_args)
    return Usage(full + ": unexpected argument '" + a.words[c.max_args] + "'");
  if (a.Has("output")) {
    std::string o = a.Get("output");
    if (o != "table" && o != "json" && o != "name") return Usage("--output must be table, json or name, not '" + o + "'");
  }
  return a;
}

std::string HelpText(std::string_view group) {
  std::string h;
  if (group.empty()) {
    h += "ringflow client commands: talk to a running daemon over its HTTP API\n\n"
         "usage: ringflow GROUP COMMAND [ARGS] [options]\n\n";
  } else {
    h += "usage: ringflow " + std::string(group) + " COMMAND [ARGS] [options]\n\n";
  }
  for (const CommandSpec& c : Commands()) {
    if (!group.empty() && group != c.group) continue;
    std::string line = "  " + std::string(c.group) + " " + c.verb + (c.args[0] ? " " : "") + c.args;
    line.resize(std::max<size_t>(line.size() + 2, 36), ' ');
    h += line + c.help + "\n";
    for (std::string_view o : c.options) {
      const OptionSpec* s = FindOption(o);
      std::string ol = "      --" + std::string(s->name) + (s->takes_value ? " " + std::string(s->value_name) : "");
      ol.resize(std::max<size_t>(ol.size() + 2, 36), ' ');
      h += ol + s->help + "\n";
    }
  }
  h += "\nglobal options:\n";
  for (const OptionSpec& s : GlobalOptions()) {
    std::string ol = std::string("  ") + (s.short_name ? std::string("-") + s.short_name + ", " : "    ") +
                     "--" + s.name + (s.takes_value ? " " + std::string(s.value_name) : "");
    ol.resize(std::max<size_t>(ol.size() + 2, 36), ' ');
    h += ol + s.help + "\n";
  }
  h += "\nexit status: 0 ok; 1 the daemon answered with an error (4xx/5xx, its message is printed);\n"
       "2 usage error; 3 cannot reach the daemon (refused, timed out, connection lost);\n"
       "4 the run finished failed or cancelled (runs watch, runs start --wait)\n";
  return h;
}

}  // namespace rf::cli
