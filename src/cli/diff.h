#pragma once
// A line diff in unified format, for `ringflow workflows apply` to show what a change does to a
// definition before it is applied. Pure; any thread.
//
// Myers' O(ND) algorithm after the common prefix and suffix are set aside. Beyond kMaxEdits
// differing lines the diff gives up looking for a shortest script and shows the differing middle
// as removed and added whole: still a correct diff, never a slow one.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rf::cli {

constexpr size_t kMaxEdits = 1000;

// Splits `text` at '\n'; a final newline does not start an empty line.
std::vector<std::string_view> SplitLines(std::string_view text);

struct DiffOptions {
  size_t context = 3;  // unchanged lines shown around each change
  bool color = false;  // ANSI red/green/cyan for removed/added/hunk lines
};

// The unified diff turning `a` into `b`: "--- a_label", "+++ b_label", then hunks
// "@@ -start,count +start,count @@" of ' ', '-', '+' lines. Empty when a == b.
std::string UnifiedDiff(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b,
                        std::string_view a_label, std::string_view b_label, DiffOptions options = {});

}  // namespace rf::cli
