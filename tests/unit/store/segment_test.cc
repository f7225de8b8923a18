#include "store/embedded/segment.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "store/embedded/format.h"

using namespace rf::store::embedded;

namespace {

// A segment image built the way the journal writes it: a frame, then the records.
struct Image {
  std::string bytes;
  uint64_t next_lsn = 1;
  std::vector<size_t> batch_offsets;

  explicit Image(uint64_t first_lsn = 1) : next_lsn(first_lsn) {}
  void Batch(const std::vector<std::string>& payloads, uint8_t type = 7) {
    std::string records;
    for (const std::string& p : payloads) AppendRecord(records, type, p);
    char frame[kFrameBytes];
    EncodeFrame(
        {next_lsn, static_cast<uint32_t>(payloads.size()), static_cast<uint32_t>(records.size())},
        frame);
    batch_offsets.push_back(bytes.size());
    bytes.append(frame, kFrameBytes);
    bytes += records;
    next_lsn += payloads.size();
  }
};

}  // namespace

TEST_SUITE("store.segment") {
  TEST_CASE("a clean segment yields every record with consecutive LSNs") {
    Image img(11);
    img.Batch({"a", "bb"});
    img.Batch({"ccc"});
    auto scan = ScanSegment(img.bytes, "seg", 11, true);
    REQUIRE(scan.has_value());
    REQUIRE(scan->records.size() == 3);
    CHECK(scan->records[0].lsn == 11);
    CHECK(scan->records[2].lsn == 13);
    CHECK(scan->records[1].payload == "bb");
    CHECK(scan->records[2].type == 7);
    CHECK(scan->next_lsn == 14);
    CHECK(scan->valid_bytes == img.bytes.size());
    CHECK_FALSE(scan->torn);
  }

  TEST_CASE("an empty segment is valid and holds nothing") {
    auto scan = ScanSegment("", "seg", 5, true);
    REQUIRE(scan.has_value());
    CHECK(scan->records.empty());
    CHECK(scan->next_lsn == 5);
  }

  TEST_CASE("a cut final batch of the last segment is torn and dropped whole") {
    Image img;
    img.Batch({"one"});
    img.Batch({"two", "three", "four"});
    for (size_t cut = img.batch_offsets[1] + 1; cut < img.bytes.size(); ++cut) {
      auto scan = ScanSegment(std::string_view(img.bytes).substr(0, cut), "seg", 1, true);
      REQUIRE(scan.has_value());
      CHECK(scan->torn);
      CHECK(scan->records.size() == 1);
      CHECK(scan->valid_bytes == img.batch_offsets[1]);
      CHECK(scan->next_lsn == 2);
    }
  }

  TEST_CASE("damage inside the final batch is torn even with intact records after it") {
    // Pages of the last, unsynced write can reach the disk in any order.
    Image img;
    img.Batch({"one"});
    img.Batch({"two", "three", "four"});
    std::string damaged = img.bytes;
    damaged[img.batch_offsets[1] + kFrameBytes + kRecordHeaderBytes] ^= 0x01;  // "two"
    auto scan = ScanSegment(damaged, "seg", 1, true);
    REQUIRE(scan.has_value());
    CHECK(scan->torn);
    CHECK(scan->torn_records == 0);
    CHECK(scan->records.size() == 1);
  }

  TEST_CASE("zeros after the last batch are a torn tail") {
    Image img;
    img.Batch({"one"});
    std::string padded = img.bytes + std::string(4096, '\0');
    auto scan = ScanSegment(padded, "seg", 1, true);
    REQUIRE(scan.has_value());
    CHECK(scan->torn);
    CHECK(scan->valid_bytes == img.bytes.size());
  }

  TEST_CASE("damage followed by a later valid batch is corruption naming the offset") {
    Image img;
    img.Batch({"one"});
    img.Batch({"two"});
    img.Batch({"three"});
    std::string damaged = img.bytes;
    const size_t rec = img.batch_offsets[1] + kFrameBytes;
    damaged[rec + kRecordHeaderBytes] ^= 0x40;
    auto scan = ScanSegment(damaged, "dir/seg-x.log", 1, true);
    REQUIRE_FALSE(scan.has_value());
    CHECK(scan.error().code == rf::Errc::kCorrupt);
    CHECK(scan.error().context.find("dir/seg-x.log: offset " + std::to_string(rec)) !=
          std::string::npos);
    CHECK(scan.error().context.find("crc mismatch") != std::string::npos);
  }

  TEST_CASE("a damaged batch frame followed by a later valid batch is corruption") {
    Image img;
    img.Batch({"one"});
    img.Batch({"two"});
    img.Batch({"three"});
    std::string damaged = img.bytes;
    PutU32(damaged.data() + img.batch_offsets[1], 0xFFFFFFF0u);  // the length field
    auto scan = ScanSegment(damaged, "seg", 1, true);
    REQUIRE_FALSE(scan.has_value());
    CHECK(scan.error().context.find("offset " + std::to_string(img.batch_offsets[1])) !=
          std::string::npos);
  }

  TEST_CASE("any damage in a segment that is not the newest is corruption") {
    Image img;
    img.Batch({"one"});
    img.Batch({"two"});
    auto scan =
        ScanSegment(std::string_view(img.bytes).substr(0, img.bytes.size() - 1), "seg", 1, false);
    REQUIRE_FALSE(scan.has_value());
    CHECK(scan.error().code == rf::Errc::kCorrupt);
  }

  TEST_CASE("a frame whose LSN does not follow on is corruption even at the tail") {
    Image img;
    img.Batch({"one"});
    Image other(50);
    other.Batch({"two"});
    auto scan = ScanSegment(img.bytes + other.bytes, "seg", 1, true);
    REQUIRE_FALSE(scan.has_value());
    CHECK(scan.error().context.find("expected 2") != std::string::npos);
  }

  TEST_CASE("a record of a reserved type inside a batch is corruption") {
    Image img;
    img.Batch({"x"}, kBatchFrameType);
    auto scan = ScanSegment(img.bytes, "seg", 1, true);
    REQUIRE_FALSE(scan.has_value());
    CHECK(scan.error().context.find("reserved type") != std::string::npos);
  }

  TEST_CASE("file names carry the LSN in 20 digits and parse back") {
    CHECK(SegmentFileName(1) == "seg-00000000000000000001.log");
    CHECK(SnapshotFileName(42) == "snapshot-00000000000000000042.bin");
    CHECK(ParseSegmentFileName("seg-00000000000000000123.log") == 123u);
    CHECK(ParseSnapshotFileName(SnapshotFileName(UINT64_MAX)) == UINT64_MAX);
    CHECK_FALSE(ParseSegmentFileName("seg-1.log").has_value());
    CHECK_FALSE(ParseSegmentFileName("seg-0000000000000000012x.log").has_value());
    CHECK_FALSE(ParseSnapshotFileName("snapshot-00000000000000000042.bin.tmp").has_value());
  }

  TEST_CASE("a snapshot decodes only when every check passes") {
    std::string body = "engine state";
    std::string file = EncodeSnapshotHeader(9, body) + body;
    std::string why;
    auto ok = DecodeSnapshot(file, 9, why);
    REQUIRE(ok.has_value());
    CHECK(*ok == body);
    CHECK_FALSE(DecodeSnapshot(file, 10, why).has_value());
    CHECK_FALSE(DecodeSnapshot(file.substr(0, file.size() - 1), 9, why).has_value());
    std::string flipped = file;
    flipped.back() ^= 1;
    CHECK_FALSE(DecodeSnapshot(flipped, 9, why).has_value());
    CHECK(why == "body crc mismatch");
  }
}
