#include "store/embedded/crc32c.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>

using rf::store::embedded::Crc32c;
using rf::store::embedded::Crc32cExtend;
using rf::store::embedded::Crc32cExtendHardware;
using rf::store::embedded::Crc32cExtendSoftware;
using rf::store::embedded::Crc32cHardwareAvailable;

namespace {

using Impl = uint32_t (*)(uint32_t, std::string_view);

std::string Bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s.push_back(static_cast<char>(b));
  return s;
}

// RFC 3720 appendix B.4, plus the common "123456789" check value.
void CheckVectors(Impl crc) {
  CHECK(crc(0, "123456789") == 0xE3069283u);
  CHECK(crc(0, std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(crc(0, std::string(32, '\xff')) == 0x62A8AB43u);
  std::string up, down;
  for (int i = 0; i < 32; ++i) {
    up.push_back(static_cast<char>(i));
    down.push_back(static_cast<char>(31 - i));
  }
  CHECK(crc(0, up) == 0x46DD794Eu);
  CHECK(crc(0, down) == 0x113FDB5Cu);
  std::string pdu = Bytes({0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                           0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                           0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                           0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  CHECK(crc(0, pdu) == 0xD9963A56u);
  CHECK(crc(0, "") == 0u);
}

}  // namespace

TEST_SUITE("store.crc32c") {
  TEST_CASE("the table implementation matches the RFC 3720 vectors") {
    CheckVectors(&Crc32cExtendSoftware);
  }

  TEST_CASE("the SSE4.2 implementation matches the RFC 3720 vectors") {
    if (!Crc32cHardwareAvailable()) {
      MESSAGE("no SSE4.2 on this CPU; hardware path not tested");
      return;
    }
    CheckVectors(&Crc32cExtendHardware);
  }

  TEST_CASE("the dispatching entry point matches the vectors") {
    CHECK(Crc32c("123456789") == 0xE3069283u);
    CHECK(Crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  }

  TEST_CASE("extending a crc equals the crc of the concatenation") {
    std::string a = "hello, ", b = "journal";
    CHECK(Crc32cExtend(Crc32c(a), b) == Crc32c(a + b));
    CHECK(Crc32cExtend(Crc32c(""), "123456789") == 0xE3069283u);
  }

  TEST_CASE("both implementations agree on every length and alignment") {
    std::mt19937 rng(42);
    std::string data(4096 + 64, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    for (size_t start = 0; start < 9; ++start) {
      for (size_t len : {0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4096}) {
        std::string_view s(data.data() + start, len);
        uint32_t soft = Crc32cExtendSoftware(0, s);
        CHECK(Crc32c(s) == soft);
        if (Crc32cHardwareAvailable()) CHECK(Crc32cExtendHardware(0, s) == soft);
      }
    }
  }
}
