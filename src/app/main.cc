#include <cstdio>
#include <string>

#include "app/archive.h"
#include "app/config.h"
#include "app/doctor.h"
#include "app/serve.h"
#include "cli/cli.h"
#include "obs/log.h"
#include "store/postgres/migrate.h"

int main(int argc, char** argv, char** envp) {
  using namespace rf;
  // Client commands (workflows, runs, dead-letter, completion) talk to a running daemon.
  if (cli::IsClientCommand(argc, argv)) return cli::Main(argc, argv, envp);
  auto config = app::LoadConfig(argc, argv, envp);
  if (!config) {
    std::fprintf(stderr, "ringflow: %s\n", config.error().context.c_str());
    return 2;
  }
  switch (config->command) {
    case app::Command::kHelp:
      std::fputs(app::HelpText().c_str(), stdout);
      return 0;
    case app::Command::kVersion:
      std::printf("ringflow %s\n", RF_VERSION);
      return 0;
    case app::Command::kConfig: {
      for (const auto& w : config->warnings) std::fprintf(stderr, "ringflow: warning: %s\n", w.c_str());
      std::printf("%-18s %-24s %s\n", "KEY", "VALUE", "SOURCE");
      for (const auto& s : config->effective)
        std::printf("%-18s %-24s %s\n", s.key.c_str(), s.value.empty() ? "\"\"" : s.value.c_str(),
                    s.origin.c_str());
      std::string cpus;
      for (int c : config->cpus) cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
      std::printf("%-18s %-24s %s\n", "(resolved shards)", std::to_string(config->shards).c_str(),
                  ("cpus " + cpus).c_str());
      return 0;
    }
    case app::Command::kDoctor:
      return app::Doctor(*config);
    case app::Command::kMigrate: {
      namespace pg = store::pg;
      auto state = config->migrate_apply ? pg::MigrateUp(config->database_url)
                                         : pg::ReadSchema(config->database_url);
      if (!state) {
        std::fprintf(stderr, "ringflow migrate: %s\n", state.error().context.c_str());
        return 1;
      }
      for (const auto& line : state->lines) std::printf("%s\n", line.c_str());
      std::printf("schema version %d of %d\n", state->applied, state->known);
      return config->migrate_apply || state->applied == state->known ? 0 : 3;
    }
    case app::Command::kArchive:
      return app::Archive(*config);
    case app::Command::kServe:
      obs::SetLevel(config->log_level);
      for (const auto& w : config->warnings) RF_LOG(kWarn, w);
      return app::Serve(*config);
  }
  return 0;
}
