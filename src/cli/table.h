#pragma once
// Table: rows of text cells printed as aligned columns, the way the CLI shows lists
// (`ringflow runs list`). Pure; any thread.
//
//   Table t({"ID", "STATUS"});
//   t.Add({id, "succeeded"});
//   std::fputs(t.Render().c_str(), stdout);
//
// Columns are separated by two spaces and padded to their widest cell; the last column is not
// padded (no trailing blanks). Widths count code points, not bytes, so UTF-8 names line up.
// A cell is one line: control characters (newlines, tabs, ESC) become spaces, so a value from
// the server cannot move the cursor or break the layout. A column given a maximum width cuts
// longer cells and ends them with "...".

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rf::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header);

  void Add(std::vector<std::string> row);  // fewer cells than columns: the rest are empty
  void SetMaxWidth(size_t column, size_t width);  // width >= 4

  size_t rows() const { return rows_.size(); }
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<size_t> max_;  // 0: unbounded
};

// Code points in `s` (bytes that are not UTF-8 lead bytes are not counted twice).
size_t DisplayWidth(std::string_view s);

// `s` on one line: every control character (below 0x20 and 0x7f) becomes a space.
std::string OneLine(std::string_view s);

// `s` cut to at most `width` code points, ending in "..." when it was longer.
std::string Truncate(std::string_view s, size_t width);

}  // namespace rf::cli
