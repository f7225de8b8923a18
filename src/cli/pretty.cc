#include "cli/pretty.h"

#include "base/buffer.h"
#include "json/writer.h"

namespace rf::cli {
namespace {

void Indent(Buffer& out, int depth) {
  out.Append('\n');
  for (int i = 0; i < depth; ++i) out.Append("  ");
}

void Emit(const json::Value& v, Buffer& out, int depth) {
  if (v.is_array() && !v.as_array().empty()) {
    out.Append('[');
    bool first = true;
    for (const json::Value& e : v.as_array()) {
      if (!first) out.Append(',');
      first = false;
      Indent(out, depth + 1);
      Emit(e, out, depth + 1);
    }
    Indent(out, depth);
    out.Append(']');
  } else if (v.is_object() && !v.as_object().empty()) {
    out.Append('{');
    bool first = true;
    for (const json::Member& m : v.as_object()) {
      if (!first) out.Append(',');
      first = false;
      Indent(out, depth + 1);
      json::WriteString(m.first, out);
      out.Append(": ");
      Emit(m.second, out, depth + 1);
    }
    Indent(out, depth);
    out.Append('}');
  } else {
    json::Write(v, out);
  }
}

}  // namespace

std::string Pretty(const json::Value& v) {
  Buffer out;
  Emit(v, out, 0);
  out.Append('\n');
  return std::string(out.view());
}

}  // namespace rf::cli
