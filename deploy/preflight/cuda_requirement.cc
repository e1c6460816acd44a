#include "deploy/preflight/cuda_requirement.h"

#include <algorithm>
#include <charconv>

namespace mirrord::preflight {
namespace {

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view piece = text.substr(start, end - start);
    if (!piece.empty()) out.push_back(piece);
    start = end + 1;
  }
  return out;
}

bool Holds(CudaCondition::Op op, int cmp) {
  switch (op) {
    case CudaCondition::Op::kGe: return cmp >= 0;
    case CudaCondition::Op::kLe: return cmp <= 0;
    case CudaCondition::Op::kGt: return cmp > 0;
    case CudaCondition::Op::kLt: return cmp < 0;
    case CudaCondition::Op::kEq: return cmp == 0;
    case CudaCondition::Op::kNe: return cmp != 0;
  }
  return false;
}

Result<CudaCondition> ParseCondition(std::string_view text) {
  CudaCondition c;
  c.text = std::string(text);
  size_t op_at = text.find_first_of("<>=!");
  if (op_at == std::string_view::npos || op_at == 0) {
    return InvalidArgument("bad CUDA requirement condition \"" + c.text +
                           "\": expected e.g. cuda>=12.1");
  }
  std::string_view key = text.substr(0, op_at);
  std::string_view rest = text.substr(op_at);
  static constexpr std::pair<std::string_view, CudaCondition::Op> kOps[] = {
      {">=", CudaCondition::Op::kGe}, {"<=", CudaCondition::Op::kLe},
      {"==", CudaCondition::Op::kEq}, {"!=", CudaCondition::Op::kNe},
      {">", CudaCondition::Op::kGt},  {"<", CudaCondition::Op::kLt},
      {"=", CudaCondition::Op::kEq}};
  bool found = false;
  for (const auto& [spelling, op] : kOps) {
    if (rest.starts_with(spelling)) {
      c.op = op;
      rest.remove_prefix(spelling.size());
      found = true;
      break;
    }
  }
  if (!found) return InvalidArgument("bad operator in CUDA requirement \"" + c.text + "\"");
  if (key == "cuda") {
    c.key = CudaCondition::Key::kCuda;
  } else if (key == "driver") {
    c.key = CudaCondition::Key::kDriver;
  } else if (key == "brand" || key == "arch") {
    c.key = CudaCondition::Key::kOther;
    if (rest.empty()) return InvalidArgument("empty value in CUDA requirement \"" + c.text + "\"");
    return c;
  } else {
    return InvalidArgument("unknown key in CUDA requirement \"" + c.text +
                           "\" (expected cuda, driver, brand or arch)");
  }
  Result<Version> v = ParseVersion(rest);
  if (!v.ok()) return InvalidArgument("bad version in CUDA requirement \"" + c.text + "\"");
  c.version = std::move(*v);
  return c;
}

}  // namespace

std::string Version::ToString() const {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) s += '.';
    s += std::to_string(parts[i]);
  }
  return s;
}

int Version::Compare(const Version& other) const {
  size_t n = std::max(parts.size(), other.parts.size());
  for (size_t i = 0; i < n; ++i) {
    long a = i < parts.size() ? parts[i] : 0;
    long b = i < other.parts.size() ? other.parts[i] : 0;
    if (a != b) return a < b ? -1 : 1;
  }
  return 0;
}

Result<Version> ParseVersion(std::string_view text) {
  Version v;
  if (text.empty()) return InvalidArgument("empty version");
  size_t start = 0;
  while (true) {
    size_t end = text.find('.', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(start, end - start);
    long value = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || value < 0 ||
        value > 1000000000L) {
      return InvalidArgument("bad version \"" + std::string(text) + "\"");
    }
    v.parts.push_back(value);
    if (v.parts.size() > 4) return InvalidArgument("bad version \"" + std::string(text) + "\"");
    if (end == text.size()) break;
    start = end + 1;
  }
  return v;
}

Version CudaVersionFromInt(int version) {
  return Version{{version / 1000, (version % 1000) / 10}};
}

bool CudaRequirement::SatisfiedBy(const Version& cuda, const Version& driver) const {
  if (alternatives.empty()) return true;
  for (const auto& conditions : alternatives) {
    bool all = std::all_of(conditions.begin(), conditions.end(), [&](const CudaCondition& c) {
      switch (c.key) {
        case CudaCondition::Key::kCuda: return Holds(c.op, cuda.Compare(c.version));
        case CudaCondition::Key::kDriver: return Holds(c.op, driver.Compare(c.version));
        case CudaCondition::Key::kOther: return true;
      }
      return false;
    });
    if (all) return true;
  }
  return false;
}

Result<CudaRequirement> ParseCudaRequirement(std::string_view text) {
  CudaRequirement req;
  req.text = std::string(text);
  for (std::string_view alt_text : Split(text, ' ')) {
    std::vector<CudaCondition> conditions;
    for (std::string_view cond_text : Split(alt_text, ',')) {
      std::string expanded;
      if (cond_text.find_first_of("<>=!") == 0) {  // ">=12.1" shorthand
        expanded = "cuda" + std::string(cond_text);
        cond_text = expanded;
      }
      ASSIGN_OR_RETURN(CudaCondition c, ParseCondition(cond_text));
      conditions.push_back(std::move(c));
    }
    if (!conditions.empty()) req.alternatives.push_back(std::move(conditions));
  }
  return req;
}

}  // namespace mirrord::preflight
