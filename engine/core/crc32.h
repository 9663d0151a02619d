// CRC-32 (ISO 3309 / ITU-T V.42, reflected polynomial 0xEDB88320): the checksum of zip records
// (torch.save archives) and of PNG chunks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace editclip {

uint32_t crc32(const void* data, size_t size);

}  // namespace editclip
