#pragma once
// CRC-32C (Castagnoli, iSCSI polynomial 0x1EDC6F41, reflected), the checksum
// of journal records and snapshots. Uses the SSE4.2 crc32 instruction when the
// CPU has it (checked once), else a table. Pure functions, any thread.

#include <cstdint>
#include <string_view>

namespace rf::store::embedded {

// CRC-32C of `data`.
uint32_t Crc32c(std::string_view data);

// CRC-32C of (the bytes that produced `crc`) followed by `data`:
// Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, std::string_view data);

// The two implementations, exposed so tests can check both on any machine.
bool Crc32cHardwareAvailable();
uint32_t Crc32cExtendSoftware(uint32_t crc, std::string_view data);
uint32_t Crc32cExtendHardware(uint32_t crc, std::string_view data);  // only if available

}  // namespace rf::store::embedded
