#pragma once
// Args: the CLI's command line, parsed against the table of commands (commands.cc). Pure.
//
//   ringflow [global options] GROUP VERB [ARG...] [options]
//
// Options may come before, between or after the words; "--" ends them. An option takes its
// value as "--name=value" or "--name value" ("-o json" for --output, "-y" for --yes); a switch
// takes none. Each command accepts the global options and its own; anything else, a missing or
// surplus argument, or an unknown command is a usage error (exit status 2) whose message says
// what is wrong.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace rf::cli {

struct OptionSpec {
  const char* name;   // without "--"
  char short_name;    // 0 for none
  bool takes_value;
  const char* value_name;  // for help: "URL", "JSON|@FILE"
  const char* help;
};

struct CommandSpec {
  const char* group;  // "runs"
  const char* verb;   // "start"
  const char* args;   // for help: "WORKFLOW"
  size_t min_args;
  size_t max_args;    // SIZE_MAX: any number
  std::vector<std::string_view> options;  // names of its own options
  const char* help;
};

struct Args {
  const CommandSpec* command = nullptr;  // null with help: the general help
  std::vector<std::string> words;        // the command's arguments (after GROUP VERB)
  std::map<std::string, std::string> options;  // given options ("" for a switch)
  bool help = false;                     // --help / -h, or `ringflow help GROUP`
  std::string help_group;                // the group the help is about, if any

  bool Has(std::string_view name) const { return options.count(std::string(name)) != 0; }
  std::string Get(std::string_view name, std::string fallback = {}) const {
    auto it = options.find(std::string(name));
    return it == options.end() ? fallback : it->second;
  }
};

const std::vector<OptionSpec>& GlobalOptions();
const std::vector<OptionSpec>& CommandOptions();  // every command-specific option
const std::vector<CommandSpec>& Commands();
const OptionSpec* FindOption(std::string_view name);

// The groups of client commands ("workflows", "runs", "dead-letter", "completion").
bool IsGroup(std::string_view word);

// argv[0] is skipped. kInvalidArgument with the message to print.
Result<Args> ParseArgs(const std::vector<std::string>& argv);

// The help text: the general one (every command) or a group's.
std::string HelpText(std::string_view group);

}  // namespace rf::cli
