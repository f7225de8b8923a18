#pragma once
// Router<H>: maps (method, path) to a handler of type H, with "{name}" path parameters.
//
// Built once at startup (Add allocates), then read-only: Find is const, allocation-free and safe
// to call from every shard at once.
//
// Matching rules:
//  - A pattern is "/" or "/seg/seg/..."; a segment "{x}" captures one non-empty path segment
//    (at most kMaxParams per pattern). Paths are compared raw (no percent-decoding).
//  - Literal segments win over parameters when both match; if the literal branch has no route
//    for the method, the parameter branch is tried (so "POST /a/b" and "GET /a/{x}" both work).
//  - A trailing slash or an empty segment is a different path: "/v1/runs/" does not match
//    "/v1/runs" (404), and a parameter never captures an empty segment. A pattern may end with
//    a slash ("/ui/", a directory's index); it matches only that path.
//  - HEAD uses the GET handler unless a HEAD handler is registered; Allow lists HEAD whenever
//    GET is present. Method::kOther never matches (405 if the path exists, else 404).
//  - kMethodNotAllowed: some route matches the path but none the method; `allow` is the union of
//    the methods of every route matching the path, e.g. "GET, HEAD, POST".
//  - Registering the same method + pattern twice, a malformed pattern, or two parameters with
//    different names at the same position ("/a/{x}" and "/a/{y}/b") is a bug: RF_CHECK.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/check.h"
#include "http/h1_parser.h"

namespace rf::http {

constexpr size_t kMaxParams = 8;

struct Params {
  std::array<std::pair<std::string_view, std::string_view>, kMaxParams> items{};
  size_t count = 0;

  // The value captured for `name`, or empty if the pattern has no such parameter.
  std::string_view Get(std::string_view name) const;
};

// "GET, HEAD, POST" for a set of methods (bit i = Method(i)); a static string, never freed.
std::string_view AllowHeaderValue(uint8_t method_mask);

template <class H>
class Router {
 public:
  struct Match {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed };
    Kind kind = Kind::kNotFound;
    const H* handler = nullptr;
    Params params;
    std::string_view pattern;  // the matched route pattern, also for kMethodNotAllowed (metrics)
    std::string_view allow;    // kMethodNotAllowed: e.g. "GET, HEAD"
  };

  void Add(Method method, std::string_view pattern, H handler);
  Match Find(Method method, std::string_view path) const;  // no allocation

 private:
  struct Node {
    std::vector<std::pair<std::string, std::unique_ptr<Node>>> literals;
    std::unique_ptr<Node> param;
    std::string param_name;  // of `param`
    std::array<std::optional<H>, kMethodCount> handlers;
    uint8_t mask = 0;     // methods with a handler, plus HEAD when GET is present
    std::string pattern;  // set once a route ends here
  };

  static std::string_view NextSegment(std::string_view& rest);
  bool Search(const Node& node, std::string_view rest, Method method, Match& m,
              uint8_t& path_mask) const;

  Node root_;
};

template <class H>
std::string_view Router<H>::NextSegment(std::string_view& rest) {
  // rest starts with '/'; returns the segment after it and advances past it.
  rest.remove_prefix(1);
  const size_t slash = rest.find('/');
  const std::string_view seg = rest.substr(0, slash);
  rest.remove_prefix(seg.size());
  return seg;
}

template <class H>
void Router<H>::Add(Method method, std::string_view pattern, H handler) {
  RF_CHECK(method != Method::kOther);
  RF_CHECK(!pattern.empty() && pattern.front() == '/');
  Node* node = &root_;
  size_t params = 0;
  std::string_view rest = pattern == "/" ? std::string_view() : pattern;
  while (!rest.empty()) {
    const std::string_view seg = NextSegment(rest);
    RF_CHECK(!seg.empty() || rest.empty());  // empty only last: a trailing slash
    if (!seg.empty() && seg.front() == '{') {
      RF_CHECK(seg.size() > 2 && seg.back() == '}');
      const std::string_view name = seg.substr(1, seg.size() - 2);
      RF_CHECK(name.find_first_of("{}") == std::string_view::npos);
      RF_CHECK(++params <= kMaxParams);
      if (!node->param) {
        node->param = std::make_unique<Node>();
        node->param_name = std::string(name);
      }
      RF_CHECK(node->param_name == name);
      node = node->param.get();
      continue;
    }
    RF_CHECK(seg.find_first_of("{}") == std::string_view::npos);
    Node* next = nullptr;
    for (auto& [literal, child] : node->literals) {
      if (literal == seg) next = child.get();
    }
    if (next == nullptr) {
      next = node->literals.emplace_back(std::string(seg), std::make_unique<Node>()).second.get();
    }
    node = next;
  }
  auto& slot = node->handlers[static_cast<size_t>(method)];
  RF_CHECK(!slot.has_value());
  slot.emplace(std::move(handler));
  node->mask |= static_cast<uint8_t>(1u << static_cast<unsigned>(method));
  if (node->handlers[static_cast<size_t>(Method::kGet)].has_value()) {
    node->mask |= static_cast<uint8_t>(1u << static_cast<unsigned>(Method::kHead));
  }
  if (node->pattern.empty()) node->pattern = std::string(pattern);
}

template <class H>
typename Router<H>::Match Router<H>::Find(Method method, std::string_view path) const {
  Match m;
  uint8_t path_mask = 0;
  if (path.empty() || path.front() != '/') return m;
  if (Search(root_, path == "/" ? std::string_view() : path, method, m, path_mask)) {
    m.kind = Match::Kind::kFound;
    return m;
  }
  m.params.count = 0;
  if (path_mask != 0) {
    m.kind = Match::Kind::kMethodNotAllowed;
    m.allow = AllowHeaderValue(path_mask);
  }
  return m;
}

// Depth-first, literals before the parameter; stops at the first route for `method`, otherwise
// visits every route matching the path to collect their methods in `path_mask`.
template <class H>
bool Router<H>::Search(const Node& node, std::string_view rest, Method method, Match& m,
                       uint8_t& path_mask) const {
  if (rest.empty()) {
    if (node.mask == 0) return false;
    if (path_mask == 0) m.pattern = node.pattern;  // the 405's route: the first one matched
    path_mask |= node.mask;
    if (method == Method::kOther) return false;
    const H* h = nullptr;
    if (auto& slot = node.handlers[static_cast<size_t>(method)]; slot.has_value()) {
      h = &*slot;
    } else if (auto& get = node.handlers[static_cast<size_t>(Method::kGet)];
               method == Method::kHead && get.has_value()) {
      h = &*get;
    }
    if (h == nullptr) return false;
    m.handler = h;
    m.pattern = node.pattern;
    return true;
  }
  std::string_view after = rest;
  const std::string_view seg = NextSegment(after);
  // An empty segment matches only a trailing-slash pattern's "" literal, never a parameter.
  if (seg.empty() && !after.empty()) return false;
  for (const auto& [literal, child] : node.literals) {
    if (literal == seg) {
      if (Search(*child, after, method, m, path_mask)) return true;
      break;
    }
  }
  if (node.param && !seg.empty()) {
    const size_t count = m.params.count;
    m.params.items[count] = {node.param_name, seg};
    m.params.count = count + 1;
    if (Search(*node.param, after, method, m, path_mask)) return true;
    m.params.count = count;
  }
  return false;
}

}  // namespace rf::http
