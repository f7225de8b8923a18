#pragma once
// The journal's on-disk format: records, batch frames, snapshot headers and
// file names. Pure code (no I/O), shared by the writer and replay, so it is
// unit tested on its own.
//
// Every byte of a segment is a record, little-endian:
//
//   [u32 len][u32 crc32c][u8 type][payload: len bytes]     crc covers type + payload
//
// Each batch (one writev + one fdatasync) starts with a frame record of the
// reserved type kBatchFrameType whose payload is
//
//   [u64 first_lsn][u32 record_count][u32 record_bytes]
//
// followed by exactly record_count records filling record_bytes. Frames are
// not records to the caller: they take no LSN and are never replayed. They let
// replay tell the one batch that may be torn (the last, whose fdatasync may
// not have finished) from damage to a batch that was durable before it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rf::store::embedded {

constexpr size_t kRecordHeaderBytes = 9;  // len + crc + type
constexpr size_t kFramePayloadBytes = 16;
constexpr size_t kFrameBytes = kRecordHeaderBytes + kFramePayloadBytes;

// Types >= kFirstReservedType belong to the journal; callers use 0..0xEF.
constexpr uint8_t kFirstReservedType = 0xF0;
constexpr uint8_t kBatchFrameType = 0xFF;

// A bound that keeps a corrupt length field from looking like a plausible record.
constexpr size_t kMaxRecordPayload = 64u << 20;

struct BatchFrame {
  uint64_t first_lsn = 0;
  uint32_t record_count = 0;
  uint32_t record_bytes = 0;
};

// Appends one encoded record to `out`.
void AppendRecord(std::string& out, uint8_t type, std::string_view payload);
// Writes the frame record into `out` (exactly kFrameBytes).
void EncodeFrame(const BatchFrame& frame, char* out);

// One record decoded in place. `size` is header + payload.
struct RecordView {
  uint8_t type = 0;
  std::string_view payload;
  size_t size = 0;
};

enum class RecordCheck {
  kOk,
  kTruncated,  // the record runs past the end of the data
  kBadLength,  // the length field exceeds kMaxRecordPayload
  kBadCrc,
};
const char* RecordCheckName(RecordCheck c);

// Decodes the record starting at data[offset].
RecordCheck ReadRecord(std::string_view data, size_t offset, RecordView& out);
// Decodes a frame record's payload; nullopt if the record is not a well-formed frame.
std::optional<BatchFrame> ReadFrame(const RecordView& rec);

// Snapshots: [u32 magic][u32 version][u64 lsn][u64 size][u32 crc of bytes][u32 crc of the
// preceding 28 header bytes] then `size` bytes.
constexpr size_t kSnapshotHeaderBytes = 32;
std::string EncodeSnapshotHeader(uint64_t lsn, std::string_view bytes);
// Checks a whole snapshot file; on success returns the bytes (a view into `file`),
// else sets `why`.
std::optional<std::string_view> DecodeSnapshot(std::string_view file, uint64_t expected_lsn,
                                               std::string& why);

// File names: seg-<20-digit first LSN>.log, snapshot-<20-digit LSN>.bin (+ kTempSuffix while
// being written).
constexpr std::string_view kTempSuffix = ".tmp";
std::string SegmentFileName(uint64_t first_lsn);
std::string SnapshotFileName(uint64_t lsn);
std::optional<uint64_t> ParseSegmentFileName(std::string_view name);
std::optional<uint64_t> ParseSnapshotFileName(std::string_view name);

// Little-endian helpers.
void PutU32(char* p, uint32_t v);
void PutU64(char* p, uint64_t v);
uint32_t GetU32(const char* p);
uint64_t GetU64(const char* p);

}  // namespace rf::store::embedded
