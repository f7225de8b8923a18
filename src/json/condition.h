#pragma once
// Condition: a step's `when` expression, compiled once (at definition time)
// and evaluated per step execution against a template Context.
//
//   or      := and ('||' and)*
//   and     := unary ('&&' unary)*
//   unary   := '!' unary | cmp            ("!a == b" is "!(a == b)")
//   cmp     := operand (('==' | '!=' | '<' | '<=' | '>' | '>=') operand)?
//   operand := number | 'single' or "double" quoted string | true | false
//            | null | reference | '(' or ')'
//
// - A reference is written `{{ input.amount }}` or bare, `input.amount`, with
//   the paths of json/template.h. A missing reference reads as null.
// - Numbers follow JSON (-12, 3.5, 1e3). Strings take the escapes \\ \' \"
//   \n \t.
// - == and != are deep equality, numbers by value (1 == 1.0), null equal to a
//   missing reference. <, <=, >, >= hold only between two numbers or two
//   strings (bytewise); any other pair is false, for every operator.
// - A lone operand is true unless it is null, missing, false, 0, "", [] or {}.
// - Parentheses around a lone operand leave its value as it is:
//   "(input.n) > 1" compares the number.
//
// Compiled conditions are immutable: share them freely across threads and
// shards. Evaluate does not suspend, fail or allocate.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "json/template.h"
#include "json/value.h"

namespace rf::json {

class Condition {
 public:
  static constexpr size_t kMaxLength = 4096;  // bytes of source
  static constexpr size_t kMaxDepth = 32;     // nested '(' and '!'

  Condition();  // always true: a step without `when`

  // Errors: Errc::kInvalidArgument with the byte offset and what was expected, e.g.
  // "invalid condition at byte 9: expected ')' to close the '(' at byte 0".
  static Result<Condition> Compile(std::string_view source);

  bool Evaluate(const Context& ctx) const;

  // Every reference in source order, repeats included.
  const std::vector<Ref>& refs() const { return refs_; }

 private:
  class Parser;

  enum class Op : uint8_t { kOr, kAnd, kNot, kTest, kEq, kNe, kLt, kLe, kGt, kGe };
  // kOr, kAnd: nodes children_[a, a + b); kNot: node a; kTest: operand a; comparisons: operands a
  // and b.
  struct Node {
    Op op;
    uint32_t a = 0;
    uint32_t b = 0;
  };
  enum class OperandKind : uint8_t { kLiteral, kRef, kGroup };
  // kRef: refs_[index]; kGroup: the boolean result of nodes_[index].
  struct Operand {
    OperandKind kind = OperandKind::kLiteral;
    uint32_t index = 0;
    Value literal;
  };

  bool EvaluateNode(uint32_t node, const Context& ctx) const;
  RefTarget Load(uint32_t operand, const Context& ctx) const;

  std::vector<Node> nodes_;  // empty: always true
  std::vector<uint32_t> children_;
  std::vector<Operand> operands_;
  std::vector<Ref> refs_;
  uint32_t root_ = 0;
};

}  // namespace rf::json
