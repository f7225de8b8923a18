#pragma once
// Errors are values: Result<T> carries either a T or an Error, with the
// std::expected API surface we use (has_value, operator bool, *, ->, error()).

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace rf {

enum class Errc : int {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kConflict,
  kTooLarge,
  kTimeout,
  kCancelled,
  kUnavailable,
  kRetryLater,
  kIo,
  kCorrupt,
  kInternal,
  kTooDeep,  // JSON nested deeper than a limit (json/value_limits.h)
  kEgressDenied,  // an outbound address the egress policy refuses (http/client/egress_policy.h)
  kNotHeld,  // the run's partition is held by another instance (the api forwards to it) or is moving
  kLimited,  // a quota or rate limit refuses it for now (the api answers 429 with Retry-After)
};

const char* ErrcName(Errc code);

struct Error {
  Errc code = Errc::kInternal;
  std::string context;
  int sys_errno = 0;

  static Error FromErrno(int err, std::string what = {});
  std::string ToString() const;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  Result(Errc code) : v_(std::in_place_index<1>, Error{code, {}}) {}     // NOLINT

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }
  T value_or(T other) const& { return has_value() ? value() : std::move(other); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
  Result(Errc code) : err_{code, {}}, ok_(code == Errc::kOk) {}  // NOLINT

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_{Errc::kOk, {}};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace rf
