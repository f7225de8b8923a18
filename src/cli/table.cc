#include "cli/table.h"

#include <algorithm>

namespace rf::cli {

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;  // continuation bytes add nothing
  return n;
}

std::string OneLine(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

std::string Truncate(std::string_view s, size_t width) {
  if (DisplayWidth(s) <= width) return std::string(s);
  const size_t keep = width > 3 ? width - 3 : 0;
  size_t points = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (points == keep) break;
      ++points;
    }
  }
  return std::string(s.substr(0, i)) + "...";
}

Table::Table(std::vector<std::string> header) : header_(std::move(header)), max_(header_.size(), 0) {}

void Table::Add(std::vector<std::string> row) {
  row.resize(header_.size());
  for (size_t i = 0; i < row.size(); ++i) {
    row[i] = OneLine(row[i]);
    if (max_[i]) row[i] = Truncate(row[i], max_[i]);
  }
  rows_.push_back(std::move(row));
}

void Table::SetMaxWidth(size_t column, size_t width) {
  if (column >= max_.size()) return;
  max_[column] = std::max<size_t>(width, 4);
  for (auto& row : rows_) row[column] = Truncate(row[column], max_[column]);
}

std::string Table::Render() const {
  std::vector<size_t> width(header_.size(), 0);
  for (size_t i = 0; i < header_.size(); ++i) width[i] = DisplayWidth(header_[i]);
  for (const auto& row : rows_)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], DisplayWidth(row[i]));
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i) l += "  ";
      l += cells[i];
      if (i + 1 < cells.size()) l.append(width[i] - DisplayWidth(cells[i]), ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();  // an empty last cell
    out += l;
    out += '\n';
  };
  line(header_);
  for (const auto& row : rows_) line(row);
  return out;
}

}  // namespace rf::cli
