#pragma once
// Lower-case hexadecimal text for bytes (stored ciphertexts, key ids) and back.

#include <optional>
#include <string>
#include <string_view>

namespace rf {

std::string HexEncode(std::string_view bytes);
// Strict: an even number of [0-9a-fA-F]. nullopt otherwise.
std::optional<std::string> HexDecode(std::string_view text);

}  // namespace rf
