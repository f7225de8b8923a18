#pragma once
// Templates: JSON values whose strings may hold `{{ expr }}` references to a
// run's data, compiled once (at definition time) and evaluated per step
// execution against a Context.
//
// Reference expressions (whitespace allowed just inside the braces):
//   input                        the run's input
//   input.order.id               a member path below the input
//   input.items.0.sku            array index, also written input.items[0].sku
//   steps.<id>.output[.path]     a step's output, or a path below it
//   steps.<id>.status            the step's status string
//   run.id, run.workflow         the run id and the workflow name
//   secrets.NAME                 a secret of the run's namespace: read only through
//                                Context::secrets, which the engine sets for an http step's
//                                url, headers and body when the step runs (validation refuses
//                                the reference anywhere else); missing without one
// Path segments, step ids included, are made of [A-Za-z0-9_-]. A numeric
// segment indexes an array and names a key on an object. "{{" always opens a
// reference; object keys are never templated.
//
// Compiled templates are immutable: share them freely across threads and
// shards. Evaluation does not suspend and never fails: what is missing reads
// as null (a whole value) or as nothing (inside text).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "json/value.h"

namespace rf::json {

enum class RefKind : uint8_t { kInput, kStepOutput, kStepStatus, kRunId, kRunWorkflow, kSecret };

// One parsed reference expression.
struct Ref {
  RefKind kind = RefKind::kInput;
  std::string step;               // the step id, for kStepOutput and kStepStatus
  std::vector<std::string> path;  // segments below the input or the step output; kSecret: {NAME}

  bool operator==(const Ref&) const = default;
};

// Parses a reference expression such as "steps.reserve.output.items[0].sku" (surrounding
// whitespace ignored). Errors: Errc::kInvalidArgument, e.g. "unknown template root 'inptu'
// (expected input, steps, run)".
Result<Ref> ParseRef(std::string_view expr);

// The canonical dotted form, e.g. "steps.reserve.output.items.0.sku", for messages.
std::string FormatRef(const Ref& ref);

// Step results a reference can read. The engine implements it over a run's state.
class StepResults {
 public:
  virtual ~StepResults() = default;
  // The output of step `id`, or nullptr when it has none.
  virtual const Value* Output(std::string_view id) const = 0;
  // The status of step `id` (e.g. "succeeded"), or empty when the step is unknown.
  virtual std::string_view Status(std::string_view id) const = 0;
};

// The secrets one evaluation may read (the engine's, for an http step being executed).
class SecretReader {
 public:
  virtual ~SecretReader() = default;
  // The value of secret `name`, or nullptr when there is none (the reader remembers why); the
  // string stays valid until the reader is destroyed.
  virtual const std::string* Read(std::string_view name) = 0;
};

// What one evaluation reads. Cheap to build per evaluation; what it points at must outlive the
// Evaluate call. A nullptr input, steps or secrets reads as missing.
struct Context {
  const Value* input = nullptr;
  const StepResults* steps = nullptr;
  std::string_view run_id;
  std::string_view workflow;
  SecretReader* secrets = nullptr;
};

// Where a reference leads in a context: a JSON value inside the input or a step output, the text
// of a step status or run field (is_text), or nothing (both empty: missing).
struct RefTarget {
  const Value* value = nullptr;
  std::string_view text;
  bool is_text = false;

  bool missing() const { return value == nullptr && !is_text; }
};
RefTarget Lookup(const Ref& ref, const Context& ctx);

class Template {
 public:
  Template();  // the constant null

  // Compiles `source`, any JSON value. Errors: Errc::kInvalidArgument whose context starts with
  // the JSON pointer of the offending string inside `source` (omitted when source is that string),
  // e.g. "/body/order: unknown template root 'inptu' (expected input, steps, run)".
  static Result<Template> Compile(const Value& source);

  // Every reference in source order, repeats included (for validation: steps a step may read).
  const std::vector<Ref>& refs() const { return refs_; }
  // No references at all: Evaluate always returns the source.
  bool constant() const { return refs_.empty(); }

  // The source with its references replaced. A string that is exactly one "{{ expr }}" becomes the
  // referenced value with its own JSON type (null when missing); a string with text around or
  // between references is interpolated: strings as they are, other values as compact JSON, missing
  // ones as nothing.
  Value Evaluate(const Context& ctx) const;

  // For string templates (URLs, headers): the interpolated text, where a lone reference is
  // rendered like one inside text. A non-string source gives the compact JSON of Evaluate().
  std::string EvaluateString(const Context& ctx) const;

 private:
  class Compiler;

  enum class NodeKind : uint8_t { kConstant, kRef, kText, kArray, kObject };
  // The source in preorder. kConstant: constants_[a] (a subtree without references); kRef:
  // refs_[a] as a whole value; kText: pieces_[a, a + b); kArray: b children follow; kObject: b
  // children follow, named keys_[a, a + b).
  struct Node {
    NodeKind kind;
    uint32_t a = 0;
    uint32_t b = 0;
  };
  // Literal text literals_[offset, offset + size), then refs_[ref] unless ref < 0.
  struct Piece {
    uint32_t offset = 0;
    uint32_t size = 0;
    int32_t ref = -1;
  };

  Value EvaluateNode(const Context& ctx, size_t& next) const;
  void AppendText(const Node& node, const Context& ctx, std::string& out) const;

  std::vector<Node> nodes_;
  std::vector<Value> constants_;
  std::vector<std::string> keys_;
  std::vector<Piece> pieces_;
  std::string literals_;
  std::vector<Ref> refs_;
};

}  // namespace rf::json
