#pragma once
// Helpers shared by the unit tests: a temporary directory removed at scope
// exit, and an assertion usable inside coroutines.

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace rf::test {

// mkdtemp("/tmp/<prefix>-XXXXXX"), removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "rf-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace rf::test

// Assertions inside coroutines must not throw (an exception escaping a Task
// terminates): this one checks, and ends the calling Task<void> on failure.
#define CO_REQUIRE(...)                    \
  do {                                     \
    if (!static_cast<bool>(__VA_ARGS__)) { \
      CHECK(__VA_ARGS__);                  \
      co_return;                           \
    }                                      \
  } while (0)

// The same with a message (streamed as in FAIL_CHECK) when it fails.
#define CO_REQUIRE_MESSAGE(cond, msg) \
  do {                                \
    if (!static_cast<bool>(cond)) {   \
      FAIL_CHECK(msg);                \
      co_return;                      \
    }                                 \
  } while (0)
