#include "json/condition.h"

#include <charconv>
#include <string>
#include <utility>

namespace rf::json {
namespace {

constexpr std::string_view kExpectedValue =
    "expected a value (number, string, true, false, null, reference or '(')";

const Value kTrueValue(true);
const Value kFalseValue(false);

bool IsWordStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

bool IsWordChar(char c) {
  return IsWordStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '[' || c == ']';
}

bool IsNullish(const RefTarget& t) {
  return t.missing() || (t.value != nullptr && t.value->is_null());
}

// The text of a step status or run field, or of a JSON string.
bool AsText(const RefTarget& t, std::string_view& out) {
  if (t.is_text) {
    out = t.text;
    return true;
  }
  if (t.value == nullptr || !t.value->is_string()) return false;
  out = t.value->as_string();
  return true;
}

bool Equal(const RefTarget& a, const RefTarget& b) {
  if (IsNullish(a) || IsNullish(b)) return IsNullish(a) && IsNullish(b);
  if (a.is_text || b.is_text) {
    std::string_view x, y;
    return AsText(a, x) && AsText(b, y) && x == y;
  }
  return *a.value == *b.value;
}

template <class T>
bool Holds(T x, T y, bool less, bool or_equal) {
  return less ? (x < y || (or_equal && x == y)) : (y < x || (or_equal && x == y));
}

// Ordering holds only between two numbers or two strings.
bool Ordered(const RefTarget& a, const RefTarget& b, bool less, bool or_equal) {
  if (a.value != nullptr && b.value != nullptr && a.value->is_number() && b.value->is_number()) {
    if (a.value->is_int() && b.value->is_int()) {
      return Holds(a.value->as_int(), b.value->as_int(), less, or_equal);
    }
    return Holds(a.value->as_double(), b.value->as_double(), less, or_equal);
  }
  std::string_view x, y;
  return AsText(a, x) && AsText(b, y) && Holds(x, y, less, or_equal);
}

bool Truthy(const RefTarget& t) {
  if (t.is_text) return !t.text.empty();
  if (t.value == nullptr) return false;
  const Value& v = *t.value;
  switch (v.type()) {
    case Type::kNull:
      return false;
    case Type::kBool:
      return v.as_bool();
    case Type::kInt:
      return v.as_int() != 0;
    case Type::kDouble:
      return v.as_double() != 0 && v.as_double() == v.as_double();  // NaN: false
    case Type::kString:
      return !v.as_string().empty();
    case Type::kArray:
      return !v.as_array().empty();
    case Type::kObject:
      return !v.as_object().empty();
  }
  return false;
}

}  // namespace

// Recursive descent straight into the node arrays; recursion is bounded by kMaxDepth.
class Condition::Parser {
 public:
  Parser(std::string_view src, Condition& c) : src_(src), c_(c) {}

  Status Run() {
    auto root = ParseOr(0);
    if (!root) return root.error();
    SkipSpace();
    if (!AtEnd()) return Unexpected(std::string_view::npos);
    c_.root_ = *root;
    return {};
  }

 private:
  bool AtEnd() const { return pos_ >= src_.size(); }
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }
  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }
  bool Match(std::string_view token) {
    if (src_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    return true;
  }
  bool AtComparison() const {
    const char c = Peek();
    return c == '<' || c == '>' || ((c == '=' || c == '!') && Peek(1) == '=');
  }

  Error Fail(size_t offset, std::string_view what) const {
    return Error{Errc::kInvalidArgument,
                 "invalid condition at byte " + std::to_string(offset) + ": " + std::string(what)};
  }

  // What went wrong where an operator, a ')' (when group_open is not npos) or the end was due.
  Error Unexpected(size_t group_open) const {
    const char c = Peek();
    if (c == '&' && Peek(1) != '&') return Fail(pos_, "expected '&&'");
    if (c == '|' && Peek(1) != '|') return Fail(pos_, "expected '||'");
    if (c == '=') return Fail(pos_, "expected '==' ('=' alone is not an operator)");
    if (group_open == std::string_view::npos) {
      if (c == ')') return Fail(pos_, "unmatched ')'");
      return Fail(pos_, "expected an operator or the end of the condition");
    }
    const std::string open = std::to_string(group_open);
    if (AtEnd()) return Fail(pos_, "expected ')' to close the '(' at byte " + open);
    return Fail(pos_, "expected an operator or ')' to close the '(' at byte " + open);
  }

  uint32_t AddNode(Op op, uint32_t a, uint32_t b = 0) {
    c_.nodes_.push_back({op, a, b});
    return static_cast<uint32_t>(c_.nodes_.size() - 1);
  }

  uint32_t AddOperand(OperandKind kind, uint32_t index, Value literal = {}) {
    c_.operands_.push_back({kind, index, std::move(literal)});
    return static_cast<uint32_t>(c_.operands_.size() - 1);
  }

  // `and` chains for kOr, `unary` chains for kAnd: one n-ary node, so long chains do not nest.
  Result<uint32_t> ParseChain(size_t depth, Op op) {
    const std::string_view token = op == Op::kOr ? "||" : "&&";
    auto first = op == Op::kOr ? ParseChain(depth, Op::kAnd) : ParseUnary(depth);
    if (!first) return first;
    SkipSpace();
    if (!Match(token)) return first;
    std::vector<uint32_t> terms{*first};
    do {
      auto next = op == Op::kOr ? ParseChain(depth, Op::kAnd) : ParseUnary(depth);
      if (!next) return next;
      terms.push_back(*next);
      SkipSpace();
    } while (Match(token));
    const auto begin = static_cast<uint32_t>(c_.children_.size());
    c_.children_.insert(c_.children_.end(), terms.begin(), terms.end());
    return AddNode(op, begin, static_cast<uint32_t>(terms.size()));
  }
  Result<uint32_t> ParseOr(size_t depth) { return ParseChain(depth, Op::kOr); }

  Result<uint32_t> ParseUnary(size_t depth) {
    SkipSpace();
    if (Peek() != '!' || Peek(1) == '=') return ParseComparison(depth);
    if (depth >= kMaxDepth) return Fail(pos_, "nesting deeper than " + std::to_string(kMaxDepth));
    ++pos_;
    auto operand = ParseUnary(depth + 1);
    if (!operand) return operand;
    return AddNode(Op::kNot, *operand);
  }

  Result<uint32_t> ParseComparison(size_t depth) {
    auto lhs = ParseOperand(depth);
    if (!lhs) return lhs;
    SkipSpace();
    Op op;
    if (Match("==")) {
      op = Op::kEq;
    } else if (Match("!=")) {
      op = Op::kNe;
    } else if (Match("<=")) {
      op = Op::kLe;
    } else if (Match(">=")) {
      op = Op::kGe;
    } else if (Match("<")) {
      op = Op::kLt;
    } else if (Match(">")) {
      op = Op::kGt;
    } else {
      const Operand& lone = c_.operands_[*lhs];
      if (lone.kind == OperandKind::kGroup) return lone.index;
      return AddNode(Op::kTest, *lhs);
    }
    auto rhs = ParseOperand(depth);
    if (!rhs) return rhs;
    SkipSpace();
    if (AtComparison()) return Fail(pos_, "comparisons do not chain; join them with '&&'");
    return AddNode(op, *lhs, *rhs);
  }

  Result<uint32_t> ParseOperand(size_t depth) {
    SkipSpace();
    const char c = Peek();
    if (c == '(') return ParseGroup(depth);
    if (c == '"' || c == '\'') return ParseString();
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber();
    if (c == '{' && Peek(1) == '{') {
      const size_t start = pos_;
      const size_t close = src_.find("}}", pos_ + 2);
      if (close == std::string_view::npos) return Fail(start, "unterminated '{{'");
      pos_ = close + 2;
      return ParseReference(start, src_.substr(start + 2, close - start - 2));
    }
    if (IsWordStart(c)) {
      const size_t start = pos_;
      while (!AtEnd() && IsWordChar(Peek())) ++pos_;
      const std::string_view word = src_.substr(start, pos_ - start);
      if (word == "true") return AddOperand(OperandKind::kLiteral, 0, true);
      if (word == "false") return AddOperand(OperandKind::kLiteral, 0, false);
      if (word == "null") return AddOperand(OperandKind::kLiteral, 0, nullptr);
      return ParseReference(start, word);
    }
    return Fail(pos_, kExpectedValue);
  }

  Result<uint32_t> ParseGroup(size_t depth) {
    const size_t open = pos_;
    if (depth >= kMaxDepth) return Fail(pos_, "nesting deeper than " + std::to_string(kMaxDepth));
    ++pos_;
    auto inner = ParseOr(depth + 1);
    if (!inner) return inner;
    SkipSpace();
    if (!Match(")")) return Unexpected(open);
    // A group around a lone operand is that operand, so "(input.n) > 1" compares the number.
    const Node& node = c_.nodes_[*inner];
    if (node.op == Op::kTest && *inner + 1 == c_.nodes_.size()) {
      const uint32_t operand = node.a;
      c_.nodes_.pop_back();
      return operand;
    }
    return AddOperand(OperandKind::kGroup, *inner);
  }

  Result<uint32_t> ParseReference(size_t start, std::string_view expr) {
    auto ref = ParseRef(expr);
    if (!ref) return Fail(start, ref.error().context);
    c_.refs_.push_back(std::move(*ref));
    return AddOperand(OperandKind::kRef, static_cast<uint32_t>(c_.refs_.size() - 1));
  }

  Result<uint32_t> ParseString() {
    const size_t start = pos_;
    const char quote = src_[pos_++];
    std::string text;
    while (!AtEnd() && Peek() != quote) {
      char c = src_[pos_++];
      if (c == '\\') {
        const char e = Peek();
        if (e == '\\' || e == '\'' || e == '"') {
          c = e;
        } else if (e == 'n') {
          c = '\n';
        } else if (e == 't') {
          c = '\t';
        } else {
          return Fail(pos_ - 1, "unknown escape (expected \\\\, \\', \\\", \\n or \\t)");
        }
        ++pos_;
      }
      text += c;
    }
    if (AtEnd()) return Fail(start, "unterminated string");
    ++pos_;
    return AddOperand(OperandKind::kLiteral, 0, std::move(text));
  }

  size_t SkipDigits() {
    const size_t start = pos_;
    while (Peek() >= '0' && Peek() <= '9') ++pos_;
    return pos_ - start;
  }

  Result<uint32_t> ParseNumber() {
    const size_t start = pos_;
    if (Peek() == '-') ++pos_;
    bool integer = true;
    bool valid = SkipDigits() > 0;
    if (valid && Peek() == '.') {
      ++pos_;
      integer = false;
      valid = SkipDigits() > 0;
    }
    if (valid && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      integer = false;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      valid = SkipDigits() > 0;
    }
    if (!valid || IsWordChar(Peek())) return Fail(start, "invalid number");
    const char* first = src_.data() + start;
    const char* last = src_.data() + pos_;
    if (integer) {
      int64_t i = 0;
      if (std::from_chars(first, last, i).ec == std::errc()) {
        return AddOperand(OperandKind::kLiteral, 0, i);
      }
    }
    double d = 0;
    if (std::from_chars(first, last, d).ec != std::errc()) {
      return Fail(start, "number out of range");
    }
    return AddOperand(OperandKind::kLiteral, 0, d);
  }

  std::string_view src_;
  Condition& c_;
  size_t pos_ = 0;
};

Condition::Condition() = default;

Result<Condition> Condition::Compile(std::string_view source) {
  if (source.size() > kMaxLength) {
    return Error{Errc::kInvalidArgument, "condition of " + std::to_string(source.size()) +
                                             " bytes is longer than " + std::to_string(kMaxLength)};
  }
  Condition c;
  if (Status s = Parser(source, c).Run(); !s) return s.error();
  return c;
}

bool Condition::Evaluate(const Context& ctx) const {
  return nodes_.empty() || EvaluateNode(root_, ctx);
}

bool Condition::EvaluateNode(uint32_t index, const Context& ctx) const {
  const Node& node = nodes_[index];
  switch (node.op) {
    case Op::kOr:
      for (uint32_t i = node.a; i < node.a + node.b; ++i) {
        if (EvaluateNode(children_[i], ctx)) return true;
      }
      return false;
    case Op::kAnd:
      for (uint32_t i = node.a; i < node.a + node.b; ++i) {
        if (!EvaluateNode(children_[i], ctx)) return false;
      }
      return true;
    case Op::kNot:
      return !EvaluateNode(node.a, ctx);
    case Op::kTest:
      return Truthy(Load(node.a, ctx));
    case Op::kEq:
      return Equal(Load(node.a, ctx), Load(node.b, ctx));
    case Op::kNe:
      return !Equal(Load(node.a, ctx), Load(node.b, ctx));
    case Op::kLt:
      return Ordered(Load(node.a, ctx), Load(node.b, ctx), true, false);
    case Op::kLe:
      return Ordered(Load(node.a, ctx), Load(node.b, ctx), true, true);
    case Op::kGt:
      return Ordered(Load(node.a, ctx), Load(node.b, ctx), false, false);
    case Op::kGe:
      return Ordered(Load(node.a, ctx), Load(node.b, ctx), false, true);
  }
  return false;
}

RefTarget Condition::Load(uint32_t index, const Context& ctx) const {
  const Operand& operand = operands_[index];
  RefTarget target;
  switch (operand.kind) {
    case OperandKind::kLiteral:
      target.value = &operand.literal;
      break;
    case OperandKind::kRef:
      return Lookup(refs_[operand.index], ctx);
    case OperandKind::kGroup:
      target.value = EvaluateNode(operand.index, ctx) ? &kTrueValue : &kFalseValue;
      break;
  }
  return target;
}

}  // namespace rf::json
