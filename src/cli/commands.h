#pragma once
// The CLI's commands, one function per GROUP VERB of args.cc's table. Each returns the exit
// status (session.h); they print results on stdout and problems on stderr.

#include "cli/session.h"

namespace rf::cli {

int WorkflowsApply(Session& s);
int WorkflowsList(Session& s);
int WorkflowsGet(Session& s);

int RunsStart(Session& s);
int RunsGet(Session& s);
int RunsList(Session& s);
int RunsWatch(Session& s);
int RunsCancel(Session& s);
int RunsRetry(Session& s);
int RunsSignal(Session& s);

int DeadLetterList(Session& s);
int DeadLetterRetry(Session& s);

int CompletionBash(Session& s);

// The bash completion script (completion.cc).
const char* BashCompletionScript();

}  // namespace rf::cli
