#include "store/embedded/format.h"

#include <charconv>
#include <cstring>

#include "store/embedded/crc32c.h"

namespace rf::store::embedded {
namespace {

constexpr uint32_t kSnapshotMagic = 0x4E534652;  // "RFSN" little-endian
constexpr uint32_t kSnapshotVersion = 1;
constexpr std::string_view kSegPrefix = "seg-";
constexpr std::string_view kSegSuffix = ".log";
constexpr std::string_view kSnapPrefix = "snapshot-";
constexpr std::string_view kSnapSuffix = ".bin";

uint32_t RecordCrc(uint8_t type, std::string_view payload) {
  char t = static_cast<char>(type);
  return Crc32cExtend(Crc32c(std::string_view(&t, 1)), payload);
}

std::string NumberedName(std::string_view prefix, uint64_t n, std::string_view suffix) {
  char digits[21];
  auto r = std::to_chars(digits, digits + sizeof digits, n);
  size_t len = static_cast<size_t>(r.ptr - digits);
  std::string s(prefix);
  s.append(20 - len, '0');  // fixed width: names sort in LSN order
  s.append(digits, len);
  s.append(suffix);
  return s;
}

std::optional<uint64_t> ParseNumberedName(std::string_view name, std::string_view prefix,
                                          std::string_view suffix) {
  if (name.size() != prefix.size() + 20 + suffix.size()) return std::nullopt;
  if (!name.starts_with(prefix) || !name.ends_with(suffix)) return std::nullopt;
  std::string_view digits = name.substr(prefix.size(), 20);
  uint64_t v = 0;
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
  return v;
}

}  // namespace

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void AppendRecord(std::string& out, uint8_t type, std::string_view payload) {
  char header[kRecordHeaderBytes];
  PutU32(header, static_cast<uint32_t>(payload.size()));
  PutU32(header + 4, RecordCrc(type, payload));
  header[8] = static_cast<char>(type);
  out.append(header, sizeof header);
  out.append(payload);
}

void EncodeFrame(const BatchFrame& frame, char* out) {
  char* payload = out + kRecordHeaderBytes;
  PutU64(payload, frame.first_lsn);
  PutU32(payload + 8, frame.record_count);
  PutU32(payload + 12, frame.record_bytes);
  PutU32(out, kFramePayloadBytes);
  PutU32(out + 4, RecordCrc(kBatchFrameType, std::string_view(payload, kFramePayloadBytes)));
  out[8] = static_cast<char>(kBatchFrameType);
}

const char* RecordCheckName(RecordCheck c) {
  switch (c) {
    case RecordCheck::kOk:
      return "ok";
    case RecordCheck::kTruncated:
      return "record runs past the end of the file";
    case RecordCheck::kBadLength:
      return "implausible record length";
    case RecordCheck::kBadCrc:
      return "crc mismatch";
  }
  return "?";
}

RecordCheck ReadRecord(std::string_view data, size_t offset, RecordView& out) {
  if (offset > data.size() || data.size() - offset < kRecordHeaderBytes) {
    return RecordCheck::kTruncated;
  }
  const char* p = data.data() + offset;
  uint32_t len = GetU32(p);
  if (len > kMaxRecordPayload) return RecordCheck::kBadLength;
  if (data.size() - offset - kRecordHeaderBytes < len) return RecordCheck::kTruncated;
  auto type = static_cast<uint8_t>(p[8]);
  std::string_view payload(p + kRecordHeaderBytes, len);
  if (GetU32(p + 4) != RecordCrc(type, payload)) return RecordCheck::kBadCrc;
  out = RecordView{type, payload, kRecordHeaderBytes + len};
  return RecordCheck::kOk;
}

std::optional<BatchFrame> ReadFrame(const RecordView& rec) {
  if (rec.type != kBatchFrameType || rec.payload.size() != kFramePayloadBytes) return std::nullopt;
  const char* p = rec.payload.data();
  BatchFrame f{GetU64(p), GetU32(p + 8), GetU32(p + 12)};
  if (f.record_count == 0 || f.first_lsn == 0) return std::nullopt;  // never written
  return f;
}

std::string EncodeSnapshotHeader(uint64_t lsn, std::string_view bytes) {
  std::string h(kSnapshotHeaderBytes, '\0');
  PutU32(h.data(), kSnapshotMagic);
  PutU32(h.data() + 4, kSnapshotVersion);
  PutU64(h.data() + 8, lsn);
  PutU64(h.data() + 16, bytes.size());
  PutU32(h.data() + 24, Crc32c(bytes));
  PutU32(h.data() + 28, Crc32c(std::string_view(h.data(), 28)));
  return h;
}

std::optional<std::string_view> DecodeSnapshot(std::string_view file, uint64_t expected_lsn,
                                               std::string& why) {
  if (file.size() < kSnapshotHeaderBytes) {
    why = "shorter than its header";
    return std::nullopt;
  }
  const char* h = file.data();
  if (GetU32(h + 28) != Crc32c(file.substr(0, 28))) {
    why = "header crc mismatch";
    return std::nullopt;
  }
  if (GetU32(h) != kSnapshotMagic || GetU32(h + 4) != kSnapshotVersion) {
    why = "unknown magic or version";
    return std::nullopt;
  }
  if (GetU64(h + 8) != expected_lsn) {
    why = "header LSN does not match the file name";
    return std::nullopt;
  }
  uint64_t size = GetU64(h + 16);
  if (size != file.size() - kSnapshotHeaderBytes) {
    why = "size does not match the header";
    return std::nullopt;
  }
  std::string_view bytes = file.substr(kSnapshotHeaderBytes);
  if (GetU32(h + 24) != Crc32c(bytes)) {
    why = "body crc mismatch";
    return std::nullopt;
  }
  return bytes;
}

std::string SegmentFileName(uint64_t first_lsn) {
  return NumberedName(kSegPrefix, first_lsn, kSegSuffix);
}
std::string SnapshotFileName(uint64_t lsn) { return NumberedName(kSnapPrefix, lsn, kSnapSuffix); }
std::optional<uint64_t> ParseSegmentFileName(std::string_view name) {
  return ParseNumberedName(name, kSegPrefix, kSegSuffix);
}
std::optional<uint64_t> ParseSnapshotFileName(std::string_view name) {
  return ParseNumberedName(name, kSnapPrefix, kSnapSuffix);
}

}  // namespace rf::store::embedded
