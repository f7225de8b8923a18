#pragma once
// Session: what every CLI command gets (the API client, the parsed arguments, how to print), and
// the helpers they share: calling the API with the CLI's error reporting, reading JSON arguments,
// formatting times. Used on the CLI's one thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "cli/api_client.h"
#include "cli/args.h"
#include "json/value.h"

namespace rf::cli {

// The exit statuses scripts can rely on (README.md, `ringflow help`).
enum Exit : int {
  kExitOk = 0,
  kExitServerError = 1,  // the daemon answered 4xx/5xx (its message is printed)
  kExitUsage = 2,        // bad command line, unreadable or invalid local file
  kExitUnreachable = 3,  // cannot connect, timed out, connection lost, not an HTTP answer
  kExitRunFailed = 4,    // runs watch / runs start --wait: the run failed or was cancelled
};

enum class Format { kTable, kJson, kName };

struct Session {
  ApiClient* api = nullptr;
  const Args* args = nullptr;
  Format format = Format::kTable;
  bool color = false;     // ANSI colours on stdout
  bool stdout_tty = false;
  bool stdin_tty = false;
  bool utf8 = false;      // the locale can show non-ASCII symbols
  int columns = 100;      // terminal width (stdout), for the live display
};

struct Answer {
  int status = 0;
  std::string body;  // the server's JSON text
  json::Value json;  // parsed (null when the body is not JSON)
};

// Calls the API. 2xx: fills `out`, returns kExitOk. Otherwise prints the problem to stderr
// ("ringflow: <code>: <message>" and, for 422, every {field, message}) and returns
// kExitServerError, or kExitUnreachable for a transport failure. With --output json an error
// answer's body is also printed on stdout, so scripts see the server's JSON either way.
int Call(Session& s, std::string_view method, const std::string& target, std::string_view body,
         Answer& out, std::vector<std::pair<std::string, std::string>> headers = {});

// Like Call, but a 4xx/5xx answer is returned (kExitOk) for the caller to judge; only transport
// failures are reported (kExitUnreachable).
int CallRaw(Session& s, std::string_view method, const std::string& target, std::string_view body,
            Answer& out, std::vector<std::pair<std::string, std::string>> headers = {});

// Prints an error answer as Call does.
void ReportServerError(const Session& s, const Answer& a);

// Prints "ringflow: <message>" to stderr and returns kExitUsage.
int UsageError(const std::string& message);

// A JSON argument: the text itself, "@FILE" for a file's contents, "@-" for standard input.
// Parsed (so a typo is caught here, with its byte offset) and returned as compact JSON.
Result<std::string> JsonArgument(std::string_view option, std::string_view arg);

// Reads a whole file ("-" is standard input). kInvalidArgument saying why not.
Result<std::string> ReadFile(const std::string& path);

// Prints the server's JSON (stdout, one line).
void PrintJson(std::string_view body);

// "2026-12-03 21:53:41" (UTC) for a unix time in ms; "-" for 0.
std::string FormatTime(int64_t ms);
// "350ms", "1.2s", "2m03s", "1h02m", "3d04h".
std::string FormatDuration(int64_t ms);
// Wall-clock now in unix ms.
int64_t NowMs();

// Members of server JSON, tolerant of absent fields.
std::string Str(const json::Value& v, std::string_view key);
int64_t Int(const json::Value& v, std::string_view key);

}  // namespace rf::cli
