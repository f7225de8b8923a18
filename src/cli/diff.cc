#include "cli/diff.h"

#include <algorithm>
#include <cstdint>

namespace rf::cli {
namespace {

enum class Op : uint8_t { kKeep, kDel, kAdd };

struct Edit {
  Op op;
  size_t a;  // line index in a (kKeep, kDel)
  size_t b;  // line index in b (kKeep, kAdd)
};

using Lines = std::vector<std::string_view>;

// Myers' greedy forward search over a[a0,a1) and b[b0,b1), recording each round's furthest
// reaching paths so the script can be walked back. False when more than kMaxEdits are needed.
bool Myers(const Lines& a, size_t a0, size_t a1, const Lines& b, size_t b0, size_t b1,
           std::vector<Edit>& out) {
  const auto n = static_cast<int64_t>(a1 - a0), m = static_cast<int64_t>(b1 - b0);
  const int64_t max = std::min<int64_t>(n + m, kMaxEdits);
  const int64_t off = max + 1;
  std::vector<int64_t> v(static_cast<size_t>(2 * max + 3), 0);
  std::vector<std::vector<int64_t>> trace;
  int64_t found = -1;
  for (int64_t d = 0; d <= max && found < 0; ++d) {
    trace.push_back(v);
    for (int64_t k = -d; k <= d; k += 2) {
      int64_t x = (k == -d || (k != d && v[off + k - 1] < v[off + k + 1])) ? v[off + k + 1]
                                                                          : v[off + k - 1] + 1;
      int64_t y = x - k;
      while (x < n && y < m && a[a0 + x] == b[b0 + y]) ++x, ++y;
      v[off + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
  }
  if (found < 0) return false;
  // Walk back from (n, m): each round d undoes one edit and the diagonal run after it.
  std::vector<Edit> rev;
  int64_t x = n, y = m;
  for (int64_t d = found; d > 0; --d) {
    const std::vector<int64_t>& pv = trace[d];  // v as it was before round d
    const int64_t k = x - y;
    const bool down = k == -d || (k != d && pv[off + k - 1] < pv[off + k + 1]);
    const int64_t pk = down ? k + 1 : k - 1;
    const int64_t px = pv[off + pk], py = px - pk;
    const int64_t sx = down ? px : px + 1;  // where the edit of this round ended
    while (x > sx) --x, --y, rev.push_back({Op::kKeep, size_t(a0 + x), size_t(b0 + y)});
    if (down) rev.push_back({Op::kAdd, 0, size_t(b0 + py)});
    else rev.push_back({Op::kDel, size_t(a0 + px), 0});
    x = px, y = py;
  }
  while (x > 0 && y > 0) --x, --y, rev.push_back({Op::kKeep, size_t(a0 + x), size_t(b0 + y)});
  out.insert(out.end(), rev.rbegin(), rev.rend());
  return true;
}

std::vector<Edit> Script(const Lines& a, const Lines& b) {
  std::vector<Edit> out;
  size_t pre = 0;
  while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
  size_t suf = 0;
  while (suf < a.size() - pre && suf < b.size() - pre &&
         a[a.size() - 1 - suf] == b[b.size() - 1 - suf])
    ++suf;
  for (size_t i = 0; i < pre; ++i) out.push_back({Op::kKeep, i, i});
  const size_t a1 = a.size() - suf, b1 = b.size() - suf;
  if (!Myers(a, pre, a1, b, pre, b1, out)) {
    for (size_t i = pre; i < a1; ++i) out.push_back({Op::kDel, i, 0});
    for (size_t j = pre; j < b1; ++j) out.push_back({Op::kAdd, 0, j});
  }
  for (size_t i = 0; i < suf; ++i) out.push_back({Op::kKeep, a1 + i, b1 + i});
  return out;
}

// "start,count" of a hunk side; an empty side names the line before it (as diff -u does).
std::string Range(size_t first, size_t count) {
  size_t start = count ? first + 1 : first;
  return std::to_string(start) + "," + std::to_string(count);
}

}  // namespace

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back(text);
      break;
    }
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::string UnifiedDiff(const Lines& a, const Lines& b, std::string_view a_label,
                        std::string_view b_label, DiffOptions options) {
  const std::vector<Edit> script = Script(a, b);
  const char* red = options.color ? "\x1b[31m" : "";
  const char* green = options.color ? "\x1b[32m" : "";
  const char* cyan = options.color ? "\x1b[36m" : "";
  const char* bold = options.color ? "\x1b[1m" : "";
  const char* reset = options.color ? "\x1b[0m" : "";
  std::string out;
  const size_t ctx = options.context;
  size_t i = 0;
  while (i < script.size()) {
    // The next change, and the hunk around it: extend while the gap between changes is at most
    // 2 * context unchanged lines.
    while (i < script.size() && script[i].op == Op::kKeep) ++i;
    if (i == script.size()) break;
    size_t begin = i >= ctx ? i - ctx : 0;
    size_t end = i;
    while (end < script.size()) {
      if (script[end].op != Op::kKeep) {
        ++end;
        continue;
      }
      size_t run = end;
      while (run < script.size() && script[run].op == Op::kKeep) ++run;
      if (run == script.size() || run - end > 2 * ctx) {
        end = std::min(script.size(), end + ctx);
        break;
      }
      end = run;
    }
    if (out.empty()) {
      out += std::string(bold) + "--- " + std::string(a_label) + reset + "\n";
      out += std::string(bold) + "+++ " + std::string(b_label) + reset + "\n";
    }
    size_t a_first = SIZE_MAX, b_first = SIZE_MAX, a_count = 0, b_count = 0;
    for (size_t j = begin; j < end; ++j) {
      const Edit& e = script[j];
      if (e.op != Op::kAdd) a_first = std::min(a_first, e.a), ++a_count;
      if (e.op != Op::kDel) b_first = std::min(b_first, e.b), ++b_count;
    }
    // A side with no line in the hunk starts after the lines before it.
    auto before = [&](bool side_a) {
      for (size_t j = begin; j-- > 0;) {
        const Edit& e = script[j];
        if (side_a && e.op != Op::kAdd) return e.a + 1;
        if (!side_a && e.op != Op::kDel) return e.b + 1;
      }
      return size_t{0};
    };
    if (a_first == SIZE_MAX) a_first = before(true);
    if (b_first == SIZE_MAX) b_first = before(false);
    out += std::string(cyan) + "@@ -" + Range(a_first, a_count) + " +" + Range(b_first, b_count) +
           " @@" + reset + "\n";
    for (size_t j = begin; j < end; ++j) {
      const Edit& e = script[j];
      if (e.op == Op::kKeep) out += " " + std::string(a[e.a]) + "\n";
      else if (e.op == Op::kDel) out += std::string(red) + "-" + std::string(a[e.a]) + reset + "\n";
      else out += std::string(green) + "+" + std::string(b[e.b]) + reset + "\n";
    }
    i = end;
  }
  return out;
}

}  // namespace rf::cli
