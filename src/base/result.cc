#include "base/result.h"

namespace rf {

const char* ErrcName(Errc code) {
  switch (code) {
    case Errc::kOk: return "ok";
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kNotFound: return "not_found";
    case Errc::kConflict: return "conflict";
    case Errc::kTooLarge: return "too_large";
    case Errc::kTimeout: return "timeout";
    case Errc::kCancelled: return "cancelled";
    case Errc::kUnavailable: return "unavailable";
    case Errc::kRetryLater: return "retry_later";
    case Errc::kIo: return "io";
    case Errc::kCorrupt: return "corrupt";
    case Errc::kInternal: return "internal";
    case Errc::kTooDeep: return "too_deep";
    case Errc::kEgressDenied: return "egress_denied";
    case Errc::kNotHeld: return "not_held";
    case Errc::kLimited: return "limited";
  }
  return "unknown";
}

Error Error::FromErrno(int err, std::string what) {
  Errc code = Errc::kIo;
  if (err == ETIME || err == ETIMEDOUT) code = Errc::kTimeout;
  if (err == ECANCELED) code = Errc::kCancelled;
  if (err == EINVAL) code = Errc::kInvalidArgument;
  if (err == ENOENT) code = Errc::kNotFound;
  if (err == EAGAIN) code = Errc::kRetryLater;
  if (!what.empty()) what += ": ";
  what += std::strerror(err);
  return Error{code, std::move(what), err};
}

std::string Error::ToString() const {
  std::string s = ErrcName(code);
  if (!context.empty()) {
    s += ": ";
    s += context;
  }
  return s;
}

}  // namespace rf
