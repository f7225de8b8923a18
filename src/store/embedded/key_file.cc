#include "store/embedded/key_file.h"

#include "json/parse.h"
#include "json/writer.h"
#include "store/embedded/table_file.h"

namespace rf::store::embedded {
namespace {

constexpr const char* kFile = "keys.json";

}  // namespace

std::string KeyFile::Encode(const std::vector<ApiKeyRow>& keys) {
  Buffer out;
  out.Append("{\"version\":1,\"keys\":[");
  for (size_t i = 0; i < keys.size(); ++i) {
    const ApiKeyRow& k = keys[i];
    if (i) out.Append(",");
    out.Append("\n{\"id\":");
    json::WriteString(k.id, out);
    out.Append(",\"name\":");
    json::WriteString(k.name, out);
    out.Append(",\"namespace\":");
    json::WriteString(k.ns, out);
    out.Append(",\"role\":");
    json::WriteString(k.role, out);
    out.Append(",\"sha256\":");
    json::WriteString(k.hash, out);
    out.Append(",\"created_ms\":" + std::to_string(k.created_ms) +
               ",\"expires_ms\":" + std::to_string(k.expires_ms) + "}");
  }
  out.Append("\n]}\n");
  return std::string(out.view());
}

Result<std::vector<ApiKeyRow>> KeyFile::Decode(std::string_view text) {
  auto doc = json::Parse(text, {.max_bytes = 64u << 20, .max_depth = 8});
  if (!doc) return Error{Errc::kCorrupt, std::string(kFile) + ": " + doc.error().context};
  const json::Value* keys = doc->Find("keys");
  if (keys == nullptr || !keys->is_array())
    return Error{Errc::kCorrupt, std::string(kFile) + ": no \"keys\" array"};
  std::vector<ApiKeyRow> out;
  for (const json::Value& k : keys->as_array()) {
    auto str = [&](const char* f, std::string& dst) {
      const json::Value* v = k.Find(f);
      if (v == nullptr || !v->is_string()) return false;
      dst = v->as_string();
      return true;
    };
    auto num = [&](const char* f, int64_t& dst) {
      const json::Value* v = k.Find(f);
      if (v == nullptr || !v->is_int()) return false;
      dst = v->as_int();
      return true;
    };
    ApiKeyRow row;
    if (!str("id", row.id) || !str("name", row.name) || !str("namespace", row.ns) ||
        !str("role", row.role) || !str("sha256", row.hash) || !num("created_ms", row.created_ms) ||
        !num("expires_ms", row.expires_ms))
      return Error{Errc::kCorrupt, std::string(kFile) + ": key " + std::to_string(out.size()) +
                                       " lacks a field or has one of the wrong type"};
    out.push_back(std::move(row));
  }
  return out;
}

reactor::Task<Result<std::vector<ApiKeyRow>>> KeyFile::Load() {
  auto text = co_await ReadTableFile(dir_, kFile);  // suspends
  if (!text) co_return text.error();
  if (text->empty()) {
    keys_.clear();
  } else {
    auto keys = Decode(*text);
    if (!keys) co_return keys.error();
    keys_ = std::move(*keys);
  }
  loaded_ = true;
  co_return keys_;
}

reactor::Task<Status> KeyFile::Save(std::vector<ApiKeyRow> keys) {
  // 0600: the table holds hashes only, but who may create keys is nobody else's business.
  Status st = co_await WriteTableFile(dir_, kFile, Encode(keys));  // suspends
  if (st) keys_ = std::move(keys);
  co_return st;
}

reactor::Task<Status> KeyFile::Insert(const ApiKeyRow& key) {
  if (!loaded_) {
    auto l = co_await Load();  // suspends
    if (!l) co_return l.error();
  }
  for (const ApiKeyRow& k : keys_)
    if (k.id == key.id) co_return Error{Errc::kConflict, "key " + key.id + " exists"};
  std::vector<ApiKeyRow> next = keys_;
  next.push_back(key);
  co_return co_await Save(std::move(next));  // suspends
}

reactor::Task<Status> KeyFile::Revoke(std::string_view id, int64_t) {
  if (!loaded_) {
    auto l = co_await Load();  // suspends
    if (!l) co_return l.error();
  }
  std::vector<ApiKeyRow> next;
  bool found = false;
  for (const ApiKeyRow& k : keys_) {
    if (k.id == id) found = true;
    else next.push_back(k);
  }
  if (!found) co_return Error{Errc::kNotFound, "no key " + std::string(id)};
  co_return co_await Save(std::move(next));  // suspends
}

}  // namespace rf::store::embedded
