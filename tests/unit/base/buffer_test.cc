#include <doctest/doctest.h>

#include "base/buffer.h"

using rf::Buffer;

TEST_SUITE("base.buffer") {
TEST_CASE("appended bytes are readable and consumed from the front") {
  Buffer b;
  b.Append("hello ");
  b.Append("world");
  CHECK(b.view() == "hello world");
  b.Consume(6);
  CHECK(b.view() == "world");
  b.Consume(5);
  CHECK(b.empty());
}

TEST_CASE("writable space survives compaction without losing unread bytes") {
  Buffer b(16);
  b.Append("0123456789abcdef");
  b.Consume(10);
  auto w = b.Writable(8);
  REQUIRE(w.size() >= 8);
  std::memcpy(w.data(), "XYZ", 3);
  b.Commit(3);
  CHECK(b.view() == "abcdefXYZ");
}

TEST_CASE("numbers are appended in decimal") {
  Buffer b;
  b.AppendUnsigned(0);
  b.Append(',');
  b.AppendUnsigned(18446744073709551615ull);
  b.Append(',');
  b.AppendSigned(-42);
  CHECK(b.view() == "0,18446744073709551615,-42");
}

TEST_CASE("shrinking keeps the readable bytes") {
  Buffer b;
  b.Reserve(1 << 20);
  b.Append("keep");
  b.ShrinkTo(64);
  CHECK(b.capacity() == 64);
  CHECK(b.view() == "keep");
}

TEST_CASE("appending nothing to a buffer that never held memory is a no-op") {
  Buffer b;
  b.Append(std::string_view{});  // UBSan: no memcpy to the null storage of a fresh buffer
  CHECK(b.empty());
  b.Append("x");
  b.Append(std::string_view{});
  CHECK(b.view() == "x");
}
}
