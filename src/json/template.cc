#include "json/template.h"

#include <charconv>
#include <utility>

#include "base/buffer.h"
#include "json/pointer.h"
#include "json/writer.h"

namespace rf::json {
namespace {

constexpr size_t kScratchKeep = 16 << 10;

Error Invalid(std::string message) { return Error{Errc::kInvalidArgument, std::move(message)}; }

bool IsSegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string_view TrimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

// Splits "a.b[0].c" into {"a", "b", "0", "c"}.
Result<std::vector<std::string>> SplitPath(std::string_view expr) {
  std::vector<std::string> segments;
  size_t i = 0;
  auto quoted = [&] { return " in '" + std::string(expr) + "'"; };
  auto name = [&]() -> Status {
    const size_t start = i;
    while (i < expr.size() && IsSegmentChar(expr[i])) ++i;
    if (i > start) {
      segments.emplace_back(expr.substr(start, i - start));
      return {};
    }
    if (i == expr.size() || expr[i] == '.' || expr[i] == '[') {
      return Invalid("expected a name at offset " + std::to_string(i) + quoted());
    }
    return Invalid("unexpected character '" + std::string(1, expr[i]) + "'" + quoted());
  };
  if (Status s = name(); !s) return s.error();
  while (i < expr.size()) {
    if (expr[i] == '.') {
      ++i;
      if (Status s = name(); !s) return s.error();
    } else if (expr[i] == '[') {
      const size_t close = expr.find(']', i);
      if (close == std::string_view::npos) return Invalid("unterminated '['" + quoted());
      const std::string_view index = expr.substr(i + 1, close - i - 1);
      if (!IsDigits(index)) return Invalid("expected an array index inside '[ ]'" + quoted());
      segments.emplace_back(index);
      i = close + 1;
    } else {
      return Invalid("unexpected character '" + std::string(1, expr[i]) + "'" + quoted());
    }
  }
  return segments;
}

const Value* WalkPath(const Value* v, const std::vector<std::string>& path) {
  for (const std::string& segment : path) {
    if (v == nullptr) return nullptr;
    if (v->is_object()) {
      v = v->Find(segment);
    } else if (v->is_array()) {
      if (segment.size() > 1 && segment[0] == '0') return nullptr;  // as in JSON pointers
      size_t index = 0;
      const char* end = segment.data() + segment.size();
      auto r = std::from_chars(segment.data(), end, index);
      if (r.ec != std::errc() || r.ptr != end || index >= v->as_array().size()) return nullptr;
      v = &v->as_array()[index];
    } else {
      return nullptr;
    }
  }
  return v;
}

RefTarget At(const Value* value) {
  RefTarget target;
  target.value = value;
  return target;
}

RefTarget Text(std::string_view text) {
  if (text.empty()) return {};
  return RefTarget{nullptr, text, true};
}

// Renders a reference inside text: strings as they are, other values as compact JSON.
void AppendTarget(const RefTarget& target, std::string& out) {
  if (target.is_text) {
    out.append(target.text);
    return;
  }
  if (target.value == nullptr) return;
  const Value& v = *target.value;
  if (v.is_string()) {
    out.append(v.as_string());
  } else if (v.is_int()) {
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof(digits), v.as_int()).ptr);
  } else {
    thread_local Buffer scratch;  // reused so rendering a number or an object does not allocate
    scratch.Clear();
    Write(v, scratch);
    out.append(scratch.view());
    scratch.Clear();
    scratch.ShrinkTo(kScratchKeep);  // a no-op unless a large value was just rendered
  }
}

}  // namespace

Result<Ref> ParseRef(std::string_view expr) {
  expr = TrimSpace(expr);
  if (expr.empty()) return Invalid("empty reference");
  auto segments = SplitPath(expr);
  if (!segments) return segments.error();
  std::vector<std::string>& s = *segments;
  Ref ref;
  if (s[0] == "input") {
    ref.kind = RefKind::kInput;
    ref.path.assign(std::make_move_iterator(s.begin() + 1), std::make_move_iterator(s.end()));
  } else if (s[0] == "steps") {
    if (s.size() < 3) {
      return Invalid("'" + std::string(expr) + "' needs a step id and a field: steps.<id>.output " +
                     "or steps.<id>.status");
    }
    ref.step = std::move(s[1]);
    if (s[2] == "output") {
      ref.kind = RefKind::kStepOutput;
      ref.path.assign(std::make_move_iterator(s.begin() + 3), std::make_move_iterator(s.end()));
    } else if (s[2] == "status") {
      if (s.size() > 3) return Invalid("a step status is a string and has no fields");
      ref.kind = RefKind::kStepStatus;
    } else {
      return Invalid("unknown step field '" + s[2] + "' (expected output or status)");
    }
  } else if (s[0] == "run") {
    const std::string field = s.size() > 1 ? s[1] : "";
    if (field == "id") {
      ref.kind = RefKind::kRunId;
    } else if (field == "workflow") {
      ref.kind = RefKind::kRunWorkflow;
    } else {
      return Invalid("unknown run field '" + field + "' (expected run.id or run.workflow)");
    }
    if (s.size() > 2) return Invalid("run." + field + " is a string and has no fields");
  } else if (s[0] == "secrets") {
    if (s.size() < 2) return Invalid("'secrets' needs a secret name: secrets.NAME");
    if (s.size() > 2) return Invalid("secrets." + s[1] + " is a string and has no fields");
    ref.kind = RefKind::kSecret;
    ref.path.push_back(std::move(s[1]));
  } else {
    return Invalid("unknown template root '" + s[0] + "' (expected input, steps, run)");
  }
  return ref;
}

std::string FormatRef(const Ref& ref) {
  std::string out;
  switch (ref.kind) {
    case RefKind::kInput:
      out = "input";
      break;
    case RefKind::kStepOutput:
      out = "steps." + ref.step + ".output";
      break;
    case RefKind::kStepStatus:
      out = "steps." + ref.step + ".status";
      break;
    case RefKind::kRunId:
      out = "run.id";
      break;
    case RefKind::kRunWorkflow:
      out = "run.workflow";
      break;
    case RefKind::kSecret:
      out = "secrets";
      break;
  }
  for (const std::string& segment : ref.path) out.append(".").append(segment);
  return out;
}

RefTarget Lookup(const Ref& ref, const Context& ctx) {
  switch (ref.kind) {
    case RefKind::kInput:
      return At(WalkPath(ctx.input, ref.path));
    case RefKind::kStepOutput:
      if (ctx.steps == nullptr) return {};
      return At(WalkPath(ctx.steps->Output(ref.step), ref.path));
    case RefKind::kStepStatus:
      if (ctx.steps == nullptr) return {};
      return Text(ctx.steps->Status(ref.step));
    case RefKind::kRunId:
      return Text(ctx.run_id);
    case RefKind::kRunWorkflow:
      return Text(ctx.workflow);
    case RefKind::kSecret: {
      if (ctx.secrets == nullptr || ref.path.empty()) return {};
      const std::string* value = ctx.secrets->Read(ref.path[0]);
      return value ? Text(*value) : RefTarget{};
    }
  }
  return {};
}

// Appends the nodes of one source value in preorder; subtrees without references collapse into
// one constant node so that evaluation copies them whole.
class Template::Compiler {
 public:
  explicit Compiler(Template& t) : t_(t) {}

  // True when `v` holds no reference.
  Result<bool> Add(const Value& v) {
    if (v.is_string()) return AddString(v);
    if (!v.is_array() && !v.is_object()) {
      AddConstant(v);
      return true;
    }
    const size_t nodes_mark = t_.nodes_.size();
    const size_t constants_mark = t_.constants_.size();
    const size_t keys_mark = t_.keys_.size();
    const size_t pointer_mark = pointer_.size();
    bool constant = true;
    if (v.is_array()) {
      const Array& items = v.as_array();
      t_.nodes_.push_back({NodeKind::kArray, 0, static_cast<uint32_t>(items.size())});
      for (size_t i = 0; i < items.size(); ++i) {
        pointer_.append("/").append(std::to_string(i));
        auto r = Add(items[i]);
        if (!r) return r.error();
        constant = constant && *r;
        pointer_.resize(pointer_mark);
      }
    } else {
      const Object& members = v.as_object();
      t_.nodes_.push_back({NodeKind::kObject, static_cast<uint32_t>(t_.keys_.size()),
                           static_cast<uint32_t>(members.size())});
      // This object's keys stay contiguous: they go in before any nested object's.
      for (const Member& m : members) t_.keys_.push_back(m.first);
      for (const Member& m : members) {
        pointer_.append("/").append(EscapePointerToken(m.first));
        auto r = Add(m.second);
        if (!r) return r.error();
        constant = constant && *r;
        pointer_.resize(pointer_mark);
      }
    }
    if (constant) {
      t_.nodes_.resize(nodes_mark);
      t_.constants_.resize(constants_mark);
      t_.keys_.resize(keys_mark);
      AddConstant(v);
    }
    return constant;
  }

 private:
  void AddConstant(const Value& v) {
    t_.nodes_.push_back({NodeKind::kConstant, static_cast<uint32_t>(t_.constants_.size()), 0});
    t_.constants_.push_back(v);
  }

  Error Fail(const std::string& message) const {
    return Invalid(pointer_.empty() ? message : pointer_ + ": " + message);
  }

  Result<bool> AddString(const Value& v) {
    const std::string& s = v.as_string();
    if (s.find("{{") == std::string::npos) {
      AddConstant(v);
      return true;
    }
    const auto first_piece = static_cast<uint32_t>(t_.pieces_.size());
    size_t pos = 0;
    while (pos < s.size()) {
      const size_t open = s.find("{{", pos);
      if (open == std::string::npos) {
        AddPiece(std::string_view(s).substr(pos), -1);
        break;
      }
      const size_t close = s.find("}}", open + 2);
      if (close == std::string::npos) {
        return Fail("unterminated '{{' at offset " + std::to_string(open));
      }
      auto ref = ParseRef(std::string_view(s).substr(open + 2, close - open - 2));
      if (!ref) return Fail(ref.error().context);
      t_.refs_.push_back(std::move(*ref));
      AddPiece(std::string_view(s).substr(pos, open - pos),
               static_cast<int32_t>(t_.refs_.size() - 1));
      pos = close + 2;
    }
    const auto count = static_cast<uint32_t>(t_.pieces_.size() - first_piece);
    if (count == 1 && t_.pieces_.back().size == 0) {
      // Exactly "{{ expr }}": the referenced value keeps its JSON type.
      t_.nodes_.push_back({NodeKind::kRef, static_cast<uint32_t>(t_.pieces_.back().ref), 0});
      t_.pieces_.pop_back();
    } else {
      t_.nodes_.push_back({NodeKind::kText, first_piece, count});
    }
    return false;
  }

  void AddPiece(std::string_view literal, int32_t ref) {
    t_.pieces_.push_back(
        {static_cast<uint32_t>(t_.literals_.size()), static_cast<uint32_t>(literal.size()), ref});
    t_.literals_.append(literal);
  }

  Template& t_;
  std::string pointer_;  // JSON pointer of the value being compiled
};

Template::Template() {
  nodes_.push_back({NodeKind::kConstant, 0, 0});
  constants_.emplace_back();
}

Result<Template> Template::Compile(const Value& source) {
  Template t;
  t.nodes_.clear();
  t.constants_.clear();
  auto r = Compiler(t).Add(source);
  if (!r) return r.error();
  return t;
}

Value Template::Evaluate(const Context& ctx) const {
  size_t next = 0;
  return EvaluateNode(ctx, next);
}

std::string Template::EvaluateString(const Context& ctx) const {
  const Node& root = nodes_[0];
  std::string out;
  switch (root.kind) {
    case NodeKind::kText:
      AppendText(root, ctx, out);
      return out;
    case NodeKind::kRef:
      AppendTarget(Lookup(refs_[root.a], ctx), out);
      return out;
    case NodeKind::kConstant:
      if (constants_[root.a].is_string()) return constants_[root.a].as_string();
      return ToString(constants_[root.a]);
    case NodeKind::kArray:
    case NodeKind::kObject:
      break;
  }
  return ToString(Evaluate(ctx));
}

Value Template::EvaluateNode(const Context& ctx, size_t& next) const {
  const Node& node = nodes_[next++];
  switch (node.kind) {
    case NodeKind::kConstant:
      return constants_[node.a];
    case NodeKind::kRef: {
      const RefTarget target = Lookup(refs_[node.a], ctx);
      if (target.value != nullptr) return *target.value;
      if (target.is_text) return Value(target.text);
      return Value();
    }
    case NodeKind::kText: {
      std::string out;
      AppendText(node, ctx, out);
      return Value(std::move(out));
    }
    case NodeKind::kArray: {
      Array items;
      items.reserve(node.b);
      for (uint32_t i = 0; i < node.b; ++i) items.push_back(EvaluateNode(ctx, next));
      return Value(std::move(items));
    }
    case NodeKind::kObject: {
      Object members;
      members.reserve(node.b);
      for (uint32_t i = 0; i < node.b; ++i) {
        members.emplace_back(keys_[node.a + i], EvaluateNode(ctx, next));
      }
      return Value(std::move(members));
    }
  }
  return Value();
}

void Template::AppendText(const Node& node, const Context& ctx, std::string& out) const {
  size_t literal_bytes = 0;
  for (uint32_t i = node.a; i < node.a + node.b; ++i) literal_bytes += pieces_[i].size;
  out.reserve(out.size() + literal_bytes + 16 * node.b);
  for (uint32_t i = node.a; i < node.a + node.b; ++i) {
    const Piece& piece = pieces_[i];
    out.append(literals_, piece.offset, piece.size);
    if (piece.ref >= 0) AppendTarget(Lookup(refs_[piece.ref], ctx), out);
  }
}

}  // namespace rf::json
