#include <cstdio>
#include <string>

#include "app/config.h"
#include "app/doctor.h"
#include "app/serve.h"
#include "obs/log.h"

int main(int argc, char** argv, char** envp) {
  using namespace rf;
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
    case app::Command::kServe:
      obs::SetLevel(config->log_level);
      for (const auto& w : config->warnings) RF_LOG(kWarn, w);
      return app::Serve(*config);
  }
  return 0;
}
