#pragma once
// Chunk: one event's SSE frame bytes, serialized once on the shard that owns
// the run and shared read-only by every subscriber on every shard. The
// refcount is the only thing shards touch together (an atomic, no lock); the
// bytes never change after MakeFrame, so any shard may read them.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rf::fanout {

using Chunk = std::shared_ptr<const std::string>;

// "id: <seq>\nevent: <type>\ndata: <json>\n\n" appended to out.
void AppendFrame(std::string& out, uint64_t seq, std::string_view type, std::string_view json);

// One frame as a shared chunk (one allocation for the control block and the string).
Chunk MakeFrame(uint64_t seq, std::string_view type, std::string_view json);
inline Chunk MakeChunk(std::string bytes) { return std::make_shared<const std::string>(std::move(bytes)); }

// The chunks' bytes one after another (tests, and writers that must copy anyway).
std::string Join(const std::vector<Chunk>& chunks);

}  // namespace rf::fanout
