#pragma once
// The private PostgreSQL cluster of the unit tests: tools/pg.sh starts it once
// per test binary (in a directory under /tmp), the first time a case asks for
// it, and stops and removes it at exit. Shared by every PostgreSQL suite.

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "base/clock.h"
#include "base/result.h"

namespace rf::test {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// tools/pg.sh of this source tree: $RF_SOURCE_ROOT, else found above the test binary.
inline std::string FindPgSh() {
  if (const char* root = std::getenv("RF_SOURCE_ROOT")) {
    const std::filesystem::path p = std::filesystem::path(root) / "tools/pg.sh";
    return std::filesystem::exists(p) ? p.string() : std::string();
  }
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  for (; !ec && !dir.empty(); dir = dir.parent_path()) {
    if (std::filesystem::exists(dir / "tools/pg.sh")) return (dir / "tools/pg.sh").string();
    if (dir == dir.root_path()) break;
  }
  return {};
}

// The suite's cluster: started by the first case that asks for it, stopped at exit.
class Cluster {
 public:
  static Cluster& Get() {
    static Cluster c;
    return c;
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& url() const { return url_; }
  const std::string& dir() const { return dir_; }  // also the unix socket's directory

  // `tools/pg.sh VERB DIR` (blocking: call it from an Offload helper when a reactor runs).
  Status Run(const char* verb) const {
    const std::string cmd =
        "PG_FAST=1 '" + script_ + "' " + verb + " '" + dir_ + "' >'" + log_ + "' 2>&1";
    const int rc = std::system(cmd.c_str());
    if (rc != 0) {
      return Error{Errc::kUnavailable, "`tools/pg.sh " + std::string(verb) + "` failed (status " +
                                           std::to_string(rc) + "): " + ReadFile(log_)};
    }
    return {};
  }

 private:
  Cluster() {
    script_ = FindPgSh();
    if (script_.empty()) {
      error_ =
          "tools/pg.sh not found above the test binary (set RF_SOURCE_ROOT to the source tree)";
      return;
    }
    char tmpl[] = "/tmp/rf-pg-test-XXXXXX";  // the postgres user must be able to reach it
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    log_ = dir_ + ".log";
    const Nanos start = MonoNow();
    Status st = Run("start");
    if (!st) {
      error_ = st.error().context;
      return;
    }
    started_ = true;
    url_ = ReadFile(dir_ + "/url");
    while (!url_.empty() && (url_.back() == '\n' || url_.back() == ' ')) url_.pop_back();
    if (url_.empty()) error_ = "tools/pg.sh start wrote no url in " + dir_;
    MESSAGE("private PostgreSQL at " << url_ << " started in " << (MonoNow() - start) / kMillis
                                     << " ms");
  }
  ~Cluster() {
    if (started_) (void)Run("stop");
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    if (!log_.empty()) std::filesystem::remove(log_, ec);
  }

  std::string script_, dir_, log_, url_, error_;
  bool started_ = false;
};

}  // namespace rf::test
