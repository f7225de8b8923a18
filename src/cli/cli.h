#pragma once
// The `ringflow` binary's client commands (workflows, runs, dead-letter, completion): talk to a
// running daemon over its HTTP API. app/main.cc hands the command line over when IsClientCommand
// says so; everything else stays the daemon's (serve, config, doctor, ...).

namespace rf::cli {

// Whether argv names a client command: its first word that is not an option (skipping the
// client's global options and their values) is a client group, or `help` followed by one.
bool IsClientCommand(int argc, char** argv);

// Runs the command; returns the exit status (session.h: 0 ok, 1 server error, 2 usage,
// 3 unreachable, 4 run failed). `envp` supplies RINGFLOW_SERVER, RINGFLOW_API_KEY, NO_COLOR.
int Main(int argc, char** argv, char** envp);

}  // namespace rf::cli
