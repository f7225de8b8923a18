#include "cli/cli.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "base/duration.h"
#include "base/tenancy.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/session.h"

namespace rf::cli {
namespace {

using Handler = int (*)(Session&);

Handler HandlerOf(const CommandSpec& c) {
  static const std::map<std::string, Handler> kHandlers = {
      {"workflows apply", &WorkflowsApply}, {"workflows list", &WorkflowsList},
      {"workflows get", &WorkflowsGet},     {"runs start", &RunsStart},
      {"runs get", &RunsGet},               {"runs list", &RunsList},
      {"runs watch", &RunsWatch},           {"runs cancel", &RunsCancel},
      {"runs retry", &RunsRetry},           {"runs signal", &RunsSignal},
      {"dead-letter list", &DeadLetterList}, {"dead-letter retry", &DeadLetterRetry},
      {"completion bash", &CompletionBash},
  };
  auto it = kHandlers.find(std::string(c.group) + " " + c.verb);
  return it == kHandlers.end() ? nullptr : it->second;
}

std::string Env(char** envp, std::string_view name) {
  for (char** e = envp; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.size() > name.size() && kv.starts_with(name) && kv[name.size()] == '=')
      return std::string(kv.substr(name.size() + 1));
  }
  return {};
}

bool Utf8Locale(char** envp) {
  for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    std::string v = Env(envp, name);
    if (v.empty()) continue;
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v.find("utf-8") != std::string::npos || v.find("utf8") != std::string::npos;
  }
  return false;
}

}  // namespace

bool IsClientCommand(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("-")) {
      const OptionSpec* spec = a.starts_with("--") ? FindOption(a.substr(2, a.find('=') - 2))
                                                   : (a.size() == 2 ? FindOption(a.substr(1)) : nullptr);
      bool global = false;
      for (const OptionSpec& g : GlobalOptions()) global = global || spec == &g;
      if (!global) return false;  // a daemon flag (--listen ...): the daemon's command line
      if (spec->takes_value && a.find('=') == std::string_view::npos) ++i;
      continue;
    }
    if (a == "help") return i + 1 < argc && IsGroup(argv[i + 1]);
    return IsGroup(a);
  }
  return false;
}

int Main(int argc, char** argv, char** envp) {
  std::vector<std::string> words(argv, argv + argc);
  auto args = ParseArgs(words);
  if (!args) {
    std::fprintf(stderr, "ringflow: %s\n", args.error().context.c_str());
    return kExitUsage;
  }
  if (args->help) {
    std::fputs(HelpText(args->help_group).c_str(), stdout);
    return kExitOk;
  }
  ClientOptions options;
  if (std::string env = Env(envp, "RINGFLOW_SERVER"); !env.empty()) options.server = env;
  if (args->Has("server")) options.server = args->Get("server");
  if (options.server.find("://") == std::string::npos) options.server = "http://" + options.server;
  options.api_key = Env(envp, "RINGFLOW_API_KEY");
  if (args->Has("api-key")) options.api_key = args->Get("api-key");
  options.ca_file = Env(envp, "RINGFLOW_CA_FILE");
  if (args->Has("ca-file")) options.ca_file = args->Get("ca-file");
  options.ns = Env(envp, "RINGFLOW_NAMESPACE");
  if (args->Has("namespace")) options.ns = args->Get("namespace");
  if (!options.ns.empty() && !ValidNamespace(options.ns))
    return UsageError("--namespace: '" + options.ns + "' is not a namespace name (1 to 63 of a-z 0-9 -)");
  if (args->Has("timeout")) {
    auto t = ParseDuration(args->Get("timeout"));
    if (!t || *t <= 0) return UsageError("--timeout: expected a duration like 10s or 500ms");
    options.timeout = *t;
  }
  auto api = ApiClient::Create(std::move(options));
  if (!api) return UsageError(api.error().context);

  Session s;
  s.api = &*api;
  s.args = &*args;
  std::string out = args->Get("output", "table");
  s.format = out == "json" ? Format::kJson : out == "name" ? Format::kName : Format::kTable;
  s.stdout_tty = ::isatty(STDOUT_FILENO) == 1;
  s.stdin_tty = ::isatty(STDIN_FILENO) == 1;
  s.color = s.stdout_tty && !args->Has("no-color") && Env(envp, "NO_COLOR").empty() &&
            Env(envp, "TERM") != "dumb";
  s.utf8 = Utf8Locale(envp);
  winsize ws{};
  if (s.stdout_tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) s.columns = ws.ws_col;
  Handler h = HandlerOf(*args->command);
  int rc = h ? h(s) : UsageError("not implemented");
  std::fflush(stdout);
  return rc;
}

}  // namespace rf::cli
