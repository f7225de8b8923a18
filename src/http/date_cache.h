#pragma once
// The "Date: ...\r\n" header line, formatted at most once per second per thread.

#include <string_view>

namespace rf::http {

std::string_view DateLine();

}  // namespace rf::http
