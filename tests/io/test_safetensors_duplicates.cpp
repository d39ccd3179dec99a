// Duplicate keys in a safetensors header (issue 16, item 10): nlohmann keeps
// the last one, the reference reader rejects the file; masque must reject it
// too, for tensors and for __metadata__.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"
#include "io/safetensors.h"

using namespace masque;

namespace {

std::string file_with_header(const std::string& header, const std::string& buffer) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + buffer;
}

void validate(const std::string& bytes) {
  SafetensorsFile::validate_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
                                  "dup.safetensors", nullptr, nullptr);
}

const std::string kTensor = R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})";

}  // namespace

TEST(SafetensorsDuplicates, UniqueKeysAccepted) {
  EXPECT_NO_THROW(validate(file_with_header(
      R"({"__metadata__":{"format":"pt"},"a":)" + kTensor + "}", std::string(4, '\0'))));
}

TEST(SafetensorsDuplicates, DuplicateTensorRejected) {
  const std::string bytes =
      file_with_header(R"({"a":)" + kTensor + R"(,"a":)" + kTensor + "}", std::string(4, '\0'));
  try {
    validate(bytes);
    FAIL() << "a header naming tensor 'a' twice was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("'a' twice"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsDuplicates, DuplicateMetadataRejected) {
  const std::string bytes = file_with_header(
      R"({"__metadata__":{"format":"pt"},"a":)" + kTensor + R"(,"__metadata__":{"format":"np"}})",
      std::string(4, '\0'));
  EXPECT_THROW(validate(bytes), FormatError);
}

TEST(SafetensorsDuplicates, DuplicateKeyInsideMetadataRejected) {
  const std::string bytes =
      file_with_header(R"({"__metadata__":{"format":"pt","format":"np"},"a":)" + kTensor + "}",
                       std::string(4, '\0'));
  EXPECT_THROW(validate(bytes), FormatError);
}
