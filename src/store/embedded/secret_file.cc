#include "store/embedded/secret_file.h"

#include <algorithm>

#include "base/hex.h"
#include "json/parse.h"
#include "json/writer.h"
#include "store/embedded/table_file.h"

namespace rf::store::embedded {
namespace {

constexpr const char* kFile = "secrets.json";

bool Before(const SecretRow& a, std::string_view ns, std::string_view name) {
  return a.ns != ns ? a.ns < ns : a.name < name;
}

}  // namespace

std::string SecretFile::Encode(const std::vector<SecretRow>& rows) {
  Buffer out;
  out.Append("{\"version\":1,\"secrets\":[");
  for (size_t i = 0; i < rows.size(); ++i) {
    const SecretRow& r = rows[i];
    if (i) out.Append(",");
    out.Append("\n{\"namespace\":");
    json::WriteString(r.ns, out);
    out.Append(",\"name\":");
    json::WriteString(r.name, out);
    out.Append(",\"sealed\":");
    json::WriteString(HexEncode(r.sealed), out);
    out.Append(",\"key_id\":");
    json::WriteString(r.key_id, out);
    out.Append(",\"created_ms\":" + std::to_string(r.created_ms) +
               ",\"updated_ms\":" + std::to_string(r.updated_ms) + "}");
  }
  out.Append("\n]}\n");
  return std::string(out.view());
}

Result<std::vector<SecretRow>> SecretFile::Decode(std::string_view text) {
  auto doc = json::Parse(text, {.max_bytes = 256u << 20, .max_depth = 8});
  if (!doc) return Error{Errc::kCorrupt, std::string(kFile) + ": " + doc.error().context};
  const json::Value* list = doc->Find("secrets");
  if (list == nullptr || !list->is_array())
    return Error{Errc::kCorrupt, std::string(kFile) + ": no \"secrets\" array"};
  std::vector<SecretRow> out;
  for (const json::Value& v : list->as_array()) {
    auto str = [&](const char* f, std::string& dst) {
      const json::Value* x = v.Find(f);
      if (x == nullptr || !x->is_string()) return false;
      dst = x->as_string();
      return true;
    };
    auto num = [&](const char* f, int64_t& dst) {
      const json::Value* x = v.Find(f);
      if (x == nullptr || !x->is_int()) return false;
      dst = x->as_int();
      return true;
    };
    SecretRow row;
    std::string sealed_hex;
    if (!str("namespace", row.ns) || !str("name", row.name) || !str("sealed", sealed_hex) ||
        !str("key_id", row.key_id) || !num("created_ms", row.created_ms) ||
        !num("updated_ms", row.updated_ms))
      return Error{Errc::kCorrupt, std::string(kFile) + ": secret " + std::to_string(out.size()) +
                                       " lacks a field or has one of the wrong type"};
    auto sealed = HexDecode(sealed_hex);
    if (!sealed)
      return Error{Errc::kCorrupt, std::string(kFile) + ": secret " + std::to_string(out.size()) +
                                       " has a sealed value that is not hex"};
    row.sealed = std::move(*sealed);
    out.push_back(std::move(row));
  }
  std::sort(out.begin(), out.end(),
            [](const SecretRow& a, const SecretRow& b) { return Before(a, b.ns, b.name); });
  return out;
}

reactor::Task<Result<std::vector<SecretRow>>> SecretFile::Load() {
  auto text = co_await ReadTableFile(dir_, kFile);  // suspends
  if (!text) co_return text.error();
  if (text->empty()) {
    rows_.clear();
  } else {
    auto rows = Decode(*text);
    if (!rows) co_return rows.error();
    rows_ = std::move(*rows);
  }
  loaded_ = true;
  co_return rows_;
}

reactor::Task<Status> SecretFile::EnsureLoaded() {
  if (loaded_) co_return Status{};
  auto l = co_await Load();  // suspends
  if (!l) co_return l.error();
  co_return Status{};
}

reactor::Task<Status> SecretFile::Save(std::vector<SecretRow> rows) {
  Status st = co_await WriteTableFile(dir_, kFile, Encode(rows));  // suspends
  if (st) rows_ = std::move(rows);
  co_return st;
}

reactor::Task<Status> SecretFile::Put(const SecretRow& row) {
  Status loaded = co_await EnsureLoaded();  // suspends
  if (!loaded) co_return loaded;
  std::vector<SecretRow> next = rows_;
  auto it = std::lower_bound(next.begin(), next.end(), row,
                             [](const SecretRow& a, const SecretRow& b) { return Before(a, b.ns, b.name); });
  if (it != next.end() && it->ns == row.ns && it->name == row.name) {
    const int64_t created = it->created_ms;
    *it = row;
    it->created_ms = created;
  } else {
    next.insert(it, row);
  }
  co_return co_await Save(std::move(next));  // suspends
}

reactor::Task<Status> SecretFile::Delete(std::string_view ns, std::string_view name) {
  Status loaded = co_await EnsureLoaded();  // suspends
  if (!loaded) co_return loaded;
  std::vector<SecretRow> next = rows_;
  auto it = std::find_if(next.begin(), next.end(),
                         [&](const SecretRow& r) { return r.ns == ns && r.name == name; });
  if (it == next.end())
    co_return Error{Errc::kNotFound, "no secret " + std::string(name) + " in namespace " + std::string(ns)};
  next.erase(it);
  co_return co_await Save(std::move(next));  // suspends
}

}  // namespace rf::store::embedded
