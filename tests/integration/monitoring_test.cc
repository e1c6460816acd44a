// The shipped monitoring: monitoring/prometheus/mirrord.rules.yml passes `promtool check
// rules` and its unit tests (`promtool test rules`, in which every alert fires at least
// once), monitoring/grafana/mirrord.json is a Grafana dashboard model whose every panel has
// queries, and every metric name, label matcher and grouping label in a dashboard query or a
// rule expression exists in the /metrics of a freshly started mirrord.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/poll_until.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::filesystem::path kMonitoringDir =
    std::filesystem::path(MIRRORD_SOURCE_DIR) / "monitoring";
const std::filesystem::path kRulesFile = kMonitoringDir / "prometheus" / "mirrord.rules.yml";
const std::filesystem::path kRulesTestFile =
    kMonitoringDir / "prometheus" / "mirrord.rules.test.yml";
const std::filesystem::path kDashboardFile = kMonitoringDir / "grafana" / "mirrord.json";

// The families the dashboard must show (daemon/metrics.h).
const std::vector<std::string> kDashboardFamilies = {
    "mirrord_syncs_total",
    "mirrord_sync_duration_seconds",
    "mirrord_fetched_bytes_total",
    "mirrord_repos",
    "mirrord_syncs_running",
    "mirrord_sync_trigger_to_servable_seconds",
    "mirrord_push_to_servable_seconds",
    "mirrord_sync_queue_depth",
    "mirrord_sync_failures_total",
    "mirrord_webhook_deliveries_total",
    "mirrord_polls_total",
    "mirrord_upstreams_paused",
    "mirrord_lfs_fetched_bytes_total",
    "mirrord_store_bytes",
    "mirrord_repo_last_success_timestamp_seconds",
    "mirrord_repo_last_sync_duration_seconds",
    "mirrord_repo_last_sync_bytes",
    "mirrord_repo_last_sync_succeeded",
    "mirrord_served_requests_total",
    "mirrord_served_bytes_total",
    "mirrord_build_info",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "process_threads",
    "mirrord_builds_total",
    "mirrord_build_duration_seconds",
    "mirrord_push_to_image_seconds",
    "mirrord_image_pushes_total",
    "mirrord_image_push_duration_seconds",
    "mirrord_image_push_bytes_total",
    "mirrord_image_push_blobs_total",
};

// Repos registered in the mirrord whose /metrics the checks read: label cardinality and
// `promtool check metrics` are judged at this size.
constexpr int kRegisteredRepos = 1000;

// Labels Prometheus attaches to every scraped series; mirrord's /metrics does not carry them.
const std::set<std::string> kTargetLabels = {"job", "instance"};

// Metrics a query may use that mirrord does not expose (Prometheus' own per-target series).
const std::set<std::string> kPrometheusMetrics = {"up"};

// ---------------------------------------------------------------------------------------
// The text exposition of /metrics.

using LabelSet = std::map<std::string, std::string>;

struct Exposition {
  std::map<std::string, std::string> types;              // family -> "counter", "histogram"...
  std::map<std::string, std::vector<LabelSet>> samples;  // sample name -> its label sets
  std::set<std::string> label_names;
};

// Reads the string quoted with ", ' or ` that starts at text[*pos] (the quote); backslash
// escapes apply except in backquotes. On success *pos is just past the closing quote; fails
// when the string is unterminated.
Result<std::string> ReadQuoted(std::string_view text, size_t* pos) {
  char quote = text[*pos];
  std::string out;
  for (size_t i = *pos + 1; i < text.size(); ++i) {
    char c = text[i];
    if (c == quote) {
      *pos = i + 1;
      return out;
    }
    if (c == '\\' && quote != '`' && i + 1 < text.size()) {
      char e = text[++i];
      out += e == 'n' ? '\n' : e;
      continue;
    }
    out += c;
  }
  return InvalidArgument("unterminated string in: " + std::string(text));
}

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

std::string ReadIdent(std::string_view text, size_t* pos) {
  size_t start = *pos;
  while (*pos < text.size() && IsIdentChar(text[*pos])) ++*pos;
  return std::string(text.substr(start, *pos - start));
}

void SkipSpaces(std::string_view text, size_t* pos) {
  while (*pos < text.size() && std::isspace(static_cast<unsigned char>(text[*pos]))) ++*pos;
}

// The families (from `# TYPE` lines) and series of a text exposition; fails on a sample line
// it cannot read.
Result<Exposition> ParseExposition(const std::string& body) {
  Exposition exp;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name, type;
      words >> hash >> kind >> name >> type;
      if (kind == "TYPE") exp.types[name] = type;
      continue;
    }
    size_t pos = 0;
    std::string name = ReadIdent(line, &pos);
    if (name.empty()) return InvalidArgument("bad sample line: " + line);
    LabelSet labels;
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        std::string label = ReadIdent(line, &pos);
        if (label.empty() || pos >= line.size() || line[pos] != '=' || pos + 1 >= line.size() ||
            line[pos + 1] != '"') {
          return InvalidArgument("bad labels: " + line);
        }
        ++pos;
        ASSIGN_OR_RETURN(std::string value, ReadQuoted(line, &pos));
        labels[label] = value;
        exp.label_names.insert(label);
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      if (pos >= line.size()) return InvalidArgument("unterminated labels: " + line);
    }
    exp.samples[name].push_back(std::move(labels));
  }
  return exp;
}

// ---------------------------------------------------------------------------------------
// What a PromQL expression refers to. A scanner, not a parser: it finds selectors (with
// their label matchers) and the label lists of by/without/on/ignoring/group_left/group_right,
// skipping strings, numbers, durations, ranges and Grafana variables ($job, ${x},
// $__rate_interval).

struct Matcher {
  std::string label;
  std::string op;  // "=", "!=", "=~", "!~"
  std::string value;
};

struct Selector {
  std::string metric;
  std::vector<Matcher> matchers;
};

struct PromqlRefs {
  std::vector<Selector> selectors;
  std::set<std::string> grouping_labels;
};

const std::set<std::string> kGroupingKeywords = {"by",       "without",    "on",
                                                 "ignoring", "group_left", "group_right"};
// Words that are never metric names when not followed by '(' (aggregations take their
// grouping clause first: `sum by (le) (...)`).
const std::set<std::string> kKeywords = {
    "and",     "or",       "unless", "bool",   "offset", "atan2", "sum",          "min",
    "max",     "avg",      "group",  "stddev", "stdvar", "count", "count_values", "topk",
    "bottomk", "quantile", "inf",    "nan",    "Inf",    "NaN"};

Result<std::vector<Matcher>> ReadMatchers(std::string_view expr, size_t* pos) {
  std::vector<Matcher> matchers;
  ++*pos;  // '{'
  while (true) {
    SkipSpaces(expr, pos);
    if (*pos >= expr.size()) return InvalidArgument("unterminated selector: " + std::string(expr));
    if (expr[*pos] == '}') {
      ++*pos;
      return matchers;
    }
    Matcher m;
    m.label = ReadIdent(expr, pos);
    SkipSpaces(expr, pos);
    for (std::string_view op : {"=~", "!~", "!=", "="}) {
      if (expr.substr(*pos, op.size()) == op) {
        m.op = std::string(op);
        *pos += op.size();
        break;
      }
    }
    SkipSpaces(expr, pos);
    if (m.label.empty() || m.op.empty() || *pos >= expr.size() ||
        (expr[*pos] != '"' && expr[*pos] != '\'' && expr[*pos] != '`')) {
      return InvalidArgument("bad label matcher at " + std::to_string(*pos) +
                             " in: " + std::string(expr));
    }
    ASSIGN_OR_RETURN(m.value, ReadQuoted(expr, pos));
    matchers.push_back(std::move(m));
    SkipSpaces(expr, pos);
    if (*pos < expr.size() && expr[*pos] == ',') ++*pos;
  }
}

// On success, every selector of `expr` in order and its grouping labels; fails on a
// malformed selector or label list, and on a selector without a metric name.
Result<PromqlRefs> ScanPromql(std::string_view expr) {
  PromqlRefs refs;
  size_t i = 0;
  while (i < expr.size()) {
    char c = expr[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '"' || c == '\'' || c == '`') {
      RETURN_IF_ERROR(ReadQuoted(expr, &i).status());
    } else if (c == '#') {
      while (i < expr.size() && expr[i] != '\n') ++i;
    } else if (c == '$') {
      ++i;
      if (i < expr.size() && expr[i] == '{') {
        while (i < expr.size() && expr[i] != '}') ++i;
        ++i;
      } else {
        ReadIdent(expr, &i);
      }
    } else if (c == '[') {
      while (i < expr.size() && expr[i] != ']') ++i;
      ++i;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      while (i < expr.size() &&
             (std::isalnum(static_cast<unsigned char>(expr[i])) || expr[i] == '.')) {
        ++i;
      }
    } else if (c == '{') {
      return InvalidArgument("selector without a metric name in: " + std::string(expr));
    } else if (IsIdentStart(c)) {
      std::string ident = ReadIdent(expr, &i);
      size_t next = i;
      SkipSpaces(expr, &next);
      bool call = next < expr.size() && expr[next] == '(';
      if (kGroupingKeywords.contains(ident) && call) {
        size_t close = expr.find(')', next);
        if (close == std::string_view::npos) {
          return InvalidArgument("unterminated label list in: " + std::string(expr));
        }
        size_t p = next + 1;
        while (p < close) {
          SkipSpaces(expr, &p);
          std::string label = ReadIdent(expr, &p);
          if (!label.empty()) refs.grouping_labels.insert(label);
          SkipSpaces(expr, &p);
          if (p < close && expr[p] != ',') {
            return InvalidArgument("bad label list in: " + std::string(expr));
          }
          ++p;
        }
        i = close + 1;
      } else if (call || kKeywords.contains(ident) || kGroupingKeywords.contains(ident)) {
        // A function or an operator.
      } else {
        Selector s{ident, {}};
        if (next < expr.size() && expr[next] == '{') {
          i = next;
          ASSIGN_OR_RETURN(s.matchers, ReadMatchers(expr, &i));
        }
        refs.selectors.push_back(std::move(s));
      }
    } else {
      ++i;
    }
  }
  return refs;
}

// The exposed family a series name belongs to: the name itself, or a histogram's (or
// summary's) base name for its _bucket/_sum/_count series. Fails with a message fit for a
// test failure when there is none.
Result<std::string> FamilyOf(const std::string& name, const Exposition& exp) {
  auto type = exp.types.find(name);
  if (type != exp.types.end()) {
    if (type->second == "histogram" || type->second == "summary") {
      return InvalidArgument(name + " is a " + type->second +
                             ": select its _bucket, _sum or _count series");
    }
    return name;
  }
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (!name.ends_with(suffix)) continue;
    std::string base = name.substr(0, name.size() - suffix.size());
    auto base_type = exp.types.find(base);
    if (base_type == exp.types.end()) continue;
    if (base_type->second == "histogram" ||
        (base_type->second == "summary" && suffix != "_bucket")) {
      return base;
    }
  }
  return NotFound(name + " is not in mirrord's /metrics");
}

// Checks one selector against the exposition: the metric exists (a Prometheus series, a
// recording rule in `records`, or a mirrord family) and each matcher could select something
// (equality and regex matchers match a value mirrord exposes; every label exists). Appends
// the mirrord family to `families`. Returns the problems found (empty: none).
std::vector<std::string> CheckSelector(const Selector& s, const Exposition& exp,
                                       const std::set<std::string>& records,
                                       std::set<std::string>* families) {
  std::vector<std::string> problems;
  if (kPrometheusMetrics.contains(s.metric) || records.contains(s.metric)) return problems;
  if (s.metric.find(':') != std::string::npos) {
    problems.push_back(s.metric + " is not a metric, nor a recording rule defined here");
    return problems;
  }
  if (!s.metric.starts_with("mirrord_") && !s.metric.starts_with("process_")) {
    problems.push_back(s.metric + " is not one of mirrord's metrics");
    return problems;
  }
  Result<std::string> family = FamilyOf(s.metric, exp);
  if (!family.ok()) {
    problems.push_back(family.status().message());
    return problems;
  }
  families->insert(*family);
  auto found = exp.samples.find(s.metric);
  if (found == exp.samples.end()) {
    problems.push_back(s.metric + " has no series in mirrord's /metrics");
    return problems;
  }
  const std::vector<LabelSet>& series = found->second;
  for (const Matcher& m : s.matchers) {
    if (kTargetLabels.contains(m.label)) continue;
    std::string where = s.metric + "{" + m.label + m.op + "\"" + m.value + "\"}";
    bool has_label = false;
    for (const LabelSet& labels : series) has_label = has_label || labels.contains(m.label);
    if (!has_label) {
      problems.push_back(where + ": " + s.metric + " has no label " + m.label);
      continue;
    }
    // A value with a Grafana variable is only known at query time; a negative matcher need
    // not match anything.
    if (m.value.find('$') != std::string::npos || m.op == "!=" || m.op == "!~") continue;
    bool matched = false;
    if (m.op == "=") {
      for (const LabelSet& labels : series) {
        auto it = labels.find(m.label);
        matched = matched || (it != labels.end() && it->second == m.value);
      }
    } else {
      try {
        std::regex re(m.value);
        for (const LabelSet& labels : series) {
          auto it = labels.find(m.label);
          matched = matched || (it != labels.end() && std::regex_match(it->second, re));
        }
      } catch (const std::regex_error& e) {
        problems.push_back(where + ": bad regex: " + e.what());
        continue;
      }
    }
    if (!matched) problems.push_back(where + " matches no series mirrord exposes");
  }
  return problems;
}

// All checks of one expression; `what` names it in messages. Appends the families used.
std::vector<std::string> CheckExpression(const std::string& what, const std::string& expr,
                                         const Exposition& exp,
                                         const std::set<std::string>& records,
                                         std::set<std::string>* families,
                                         std::set<std::string>* grouping = nullptr) {
  std::vector<std::string> problems;
  Result<PromqlRefs> refs = ScanPromql(expr);
  if (!refs.ok()) return {what + ": " + refs.status().message()};
  if (refs->selectors.empty()) problems.push_back(what + ": selects no metric: " + expr);
  for (const Selector& s : refs->selectors) {
    for (const std::string& p : CheckSelector(s, exp, records, families)) {
      problems.push_back(what + ": " + p);
    }
  }
  for (const std::string& label : refs->grouping_labels) {
    if (!kTargetLabels.contains(label) && !exp.label_names.contains(label)) {
      problems.push_back(what + ": no mirrord metric has the label " + label + " it groups by");
    }
  }
  if (grouping != nullptr) *grouping = refs->grouping_labels;
  return problems;
}

// ---------------------------------------------------------------------------------------
// The rules file, read line by line: enough YAML for the shapes a rules file uses (plain,
// quoted and block-scalar `expr:` values). The rule count is cross-checked with promtool's.

struct RuleFile {
  std::vector<std::string> exprs;
  std::vector<std::string> expr_rules;  // the alert or record each expr belongs to
  std::vector<std::string> alerts;
  std::set<std::string> records;
  std::map<std::string, std::vector<std::string>> alert_lines;  // alert -> its block's lines
};

size_t Indent(const std::string& line) { return line.find_first_not_of(' '); }

bool IsBlank(const std::string& line) { return line.find_first_not_of(" \t") == std::string::npos; }

// On success, each rule's expr and name, and each alert's other lines; fails on expr shapes
// it does not read (multi-line quoted scalars, escapes in double quotes) and on empty exprs.
Result<RuleFile> ParseRuleFile(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  static const std::regex key_re(R"(^(\s*)(-\s+)?(alert|record|expr|name):\s*(.*?)\s*$)");
  RuleFile file;
  std::string current_alert;
  std::string current_rule;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(lines[i], m, key_re)) {
      if (!current_alert.empty()) file.alert_lines[current_alert].push_back(lines[i]);
      continue;
    }
    size_t key_indent = m[1].length() + m[2].length();
    std::string key = m[3];
    std::string value = m[4];
    if (key == "name" || key == "record") current_alert.clear();
    if (key == "record" || key == "alert") current_rule = value;
    if (key == "record") file.records.insert(value);
    if (key == "alert") {
      current_alert = value;
      file.alerts.push_back(value);
    }
    if (key != "expr") {
      if (!current_alert.empty() && key != "alert")
        file.alert_lines[current_alert].push_back(lines[i]);
      continue;
    }
    // Continuation lines: deeper than the key (blank lines included).
    std::string continued;
    while (i + 1 < lines.size() && (IsBlank(lines[i + 1]) || Indent(lines[i + 1]) > key_indent)) {
      continued += lines[++i] + "\n";
    }
    std::string expr;
    if (!value.empty() && (value[0] == '|' || value[0] == '>')) {
      expr = continued;
    } else if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
      if (!continued.empty() || value.size() < 2 || value.back() != value[0]) {
        return InvalidArgument("multi-line quoted expr not supported near line " +
                               std::to_string(i + 1));
      }
      expr = value.substr(1, value.size() - 2);
      if (value[0] == '\'') {
        for (size_t p = expr.find("''"); p != std::string::npos; p = expr.find("''", p + 1)) {
          expr.erase(p, 1);
        }
      } else if (expr.find('\\') != std::string::npos) {
        return InvalidArgument("escapes in a double-quoted expr are not supported near line " +
                               std::to_string(i + 1));
      }
    } else {
      expr = value + "\n" + continued;
    }
    if (IsBlank(expr)) return InvalidArgument("empty expr near line " + std::to_string(i + 1));
    file.exprs.push_back(expr);
    file.expr_rules.push_back(current_rule);
  }
  return file;
}

// ---------------------------------------------------------------------------------------
// promtool.

// Runs promtool; a missing promtool is a test failure (CI installs the prometheus package).
std::optional<ProcessResult> RunPromtool(const std::vector<std::string>& args,
                                         const std::filesystem::path& cwd = {},
                                         std::string stdin_data = {}) {
  std::vector<std::string> argv = {"promtool"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions o;
  o.cwd = cwd;
  if (!stdin_data.empty()) o.stdin_data = std::move(stdin_data);
  o.timeout = std::chrono::milliseconds(60'000);
  Result<ProcessResult> r = RunProcess(argv, o);
  if (!r.ok()) {
    ADD_FAILURE() << (r.status().code() == StatusCode::kNotFound
                          ? "promtool is not installed (package prometheus)"
                          : r.status().ToString());
    return std::nullopt;
  }
  return *std::move(r);
}

// ---------------------------------------------------------------------------------------
// The dashboard model.

struct DashboardQuery {
  std::string where;  // "panel 'Title' target A"
  std::string expr;
  std::string legend;
};

// Problems with a panel list (recursing into rows); collects each query.
void WalkPanels(const boost::json::array& panels, const std::string& datasource_uid,
                std::set<int64_t>* ids, std::vector<DashboardQuery>* queries,
                std::vector<std::string>* problems, int* panel_count) {
  for (const boost::json::value& v : panels) {
    const boost::json::object* panel = v.if_object();
    if (panel == nullptr) {
      problems->push_back("a panel is not an object");
      continue;
    }
    const boost::json::string* type =
        panel->contains("type") ? panel->at("type").if_string() : nullptr;
    const boost::json::string* title =
        panel->contains("title") ? panel->at("title").if_string() : nullptr;
    std::string name = "panel '" + (title ? std::string(*title) : std::string("?")) + "'";
    if (type == nullptr || title == nullptr || title->empty()) {
      problems->push_back(name + " lacks a type or a title");
      continue;
    }
    const boost::json::value* id = panel->if_contains("id");
    if (id == nullptr || !id->is_int64() || !ids->insert(id->as_int64()).second) {
      problems->push_back(name + " has no id or a duplicate one");
    }
    const boost::json::object* grid =
        panel->contains("gridPos") ? panel->at("gridPos").if_object() : nullptr;
    if (grid == nullptr || !grid->contains("w") || !grid->contains("h") ||
        !grid->at("w").is_int64() || !grid->at("x").is_int64() || grid->at("w").as_int64() <= 0 ||
        grid->at("x").as_int64() + grid->at("w").as_int64() > 24) {
      problems->push_back(name + " has a bad gridPos");
    }
    if (*type == "row") {
      const boost::json::value* nested = panel->if_contains("panels");
      if (nested != nullptr) {
        if (!nested->is_array()) {
          problems->push_back(name + ": row panels is not an array");
        } else {
          WalkPanels(nested->get_array(), datasource_uid, ids, queries, problems, panel_count);
        }
      }
      continue;
    }
    ++*panel_count;
    auto uses_datasource = [&](const boost::json::object& o) {
      const boost::json::value* ds = o.if_contains("datasource");
      if (ds == nullptr || !ds->is_object()) return false;
      const boost::json::value* uid = ds->get_object().if_contains("uid");
      return uid != nullptr && uid->is_string() && uid->get_string() == datasource_uid;
    };
    if (!uses_datasource(*panel)) {
      problems->push_back(name + " does not use the datasource variable " + datasource_uid);
    }
    const boost::json::value* unit = nullptr;
    if (const boost::json::value* fc = panel->if_contains("fieldConfig"); fc && fc->is_object()) {
      if (const boost::json::value* d = fc->get_object().if_contains("defaults");
          d && d->is_object()) {
        unit = d->get_object().if_contains("unit");
      }
    }
    if (unit == nullptr || !unit->is_string() || unit->get_string().empty()) {
      problems->push_back(name + " sets no unit");
    }
    const boost::json::value* targets = panel->if_contains("targets");
    if (targets == nullptr || !targets->is_array() || targets->get_array().empty()) {
      problems->push_back(name + " has no targets");
      continue;
    }
    std::set<std::string> ref_ids;
    for (const boost::json::value& t : targets->get_array()) {
      const boost::json::object* target = t.if_object();
      const boost::json::value* expr = target ? target->if_contains("expr") : nullptr;
      const boost::json::value* ref = target ? target->if_contains("refId") : nullptr;
      if (expr == nullptr || !expr->is_string() || IsBlank(std::string(expr->get_string())) ||
          ref == nullptr || !ref->is_string() ||
          !ref_ids.insert(std::string(ref->get_string())).second) {
        problems->push_back(name + " has a target without an expr or a unique refId");
        continue;
      }
      if (!uses_datasource(*target)) {
        problems->push_back(name + " target " + std::string(ref->get_string()) +
                            " does not use the datasource variable");
      }
      const boost::json::value* legend = target->if_contains("legendFormat");
      queries->push_back({name + " target " + std::string(ref->get_string()),
                          std::string(expr->get_string()),
                          legend && legend->is_string() ? std::string(legend->get_string()) : ""});
    }
  }
}

struct Dashboard {
  std::vector<DashboardQuery> queries;
  std::vector<DashboardQuery> variable_queries;  // label_values(SELECTOR, LABEL): the selector
  std::vector<std::string> variable_labels;      // ... and the LABEL
  std::vector<std::string> problems;
  int panel_count = 0;
};

// Reads monitoring/grafana/mirrord.json. Fails when it does not parse or lacks what every
// other check needs (templating, a Prometheus datasource variable, a panels array); other
// problems are listed in Dashboard::problems.
Result<Dashboard> LoadDashboard() {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(kDashboardFile));
  boost::system::error_code ec;
  boost::json::value root = boost::json::parse(text, ec);
  if (ec) return InvalidArgument("mirrord.json does not parse: " + ec.message());
  const boost::json::object* model = root.if_object();
  if (model == nullptr) return InvalidArgument("mirrord.json is not an object");
  Dashboard d;
  const boost::json::value* schema = model->if_contains("schemaVersion");
  if (schema == nullptr || !schema->is_int64() || schema->as_int64() < 36) {
    d.problems.push_back("schemaVersion missing or below 36");
  }
  for (const char* key : {"title", "uid"}) {
    const boost::json::value* v = model->if_contains(key);
    if (v == nullptr || !v->is_string() || v->get_string().empty()) {
      d.problems.push_back(std::string("no ") + key);
    }
  }
  // The datasource: a variable of type "datasource" (so the dashboard imports anywhere).
  std::string datasource_uid;
  const boost::json::value* templating = model->if_contains("templating");
  const boost::json::value* vars = templating && templating->is_object()
                                       ? templating->get_object().if_contains("list")
                                       : nullptr;
  if (vars == nullptr || !vars->is_array()) return InvalidArgument("no templating.list");
  static const std::regex label_values_re(R"(^\s*label_values\((.*),\s*([A-Za-z_]\w*)\s*\)\s*$)");
  for (const boost::json::value& v : vars->get_array()) {
    const boost::json::object* var = v.if_object();
    if (var == nullptr || !var->contains("type") || !var->contains("name")) continue;
    const boost::json::value& type = var->at("type");
    const boost::json::value& name = var->at("name");
    if (!type.is_string() || !name.is_string()) continue;
    const boost::json::value* query = var->if_contains("query");
    if (type.get_string() == "datasource" && query && query->is_string() &&
        query->get_string() == "prometheus") {
      datasource_uid = "${" + std::string(name.get_string()) + "}";
    } else if (type.get_string() == "query") {
      std::string q = query && query->is_string() ? std::string(query->get_string()) : "";
      std::smatch m;
      if (!std::regex_match(q, m, label_values_re)) {
        d.problems.push_back("variable " + std::string(name.get_string()) +
                             " is not a label_values(SELECTOR, LABEL) query: " + q);
        continue;
      }
      d.variable_queries.push_back({"variable " + std::string(name.get_string()), m[1], ""});
      d.variable_labels.push_back(m[2]);
    }
  }
  if (datasource_uid.empty()) return InvalidArgument("no Prometheus datasource variable");
  const boost::json::value* panels = model->if_contains("panels");
  if (panels == nullptr || !panels->is_array()) return InvalidArgument("no panels array");
  std::set<int64_t> ids;
  WalkPanels(panels->get_array(), datasource_uid, &ids, &d.queries, &d.problems, &d.panel_count);
  return d;
}

// The {{label}} names a legend format uses.
std::set<std::string> LegendLabels(const std::string& legend) {
  static const std::regex re(R"(\{\{\s*([A-Za-z_]\w*)\s*\}\})");
  std::set<std::string> labels;
  for (std::sregex_iterator it(legend.begin(), legend.end(), re), end; it != end; ++it) {
    labels.insert((*it)[1]);
  }
  return labels;
}

// ---------------------------------------------------------------------------------------
// Tests of the scanner itself, so that the checks below cannot pass by missing things.

TEST(MonitoringPromql, FindsSelectorsMatchersAndGroupingLabels) {
  ASSERT_OK_AND_ASSIGN(
      PromqlRefs refs,
      ScanPromql("histogram_quantile(0.95, sum by (le, trigger) (rate("
                 "mirrord_x_bucket{job=\"$job\", trigger=~'webhook|poll', a!=\"}\"}"
                 "[$__rate_interval]))) / on (instance) group_left() up > 1e3 "
                 "and sum(rate(mirrord_y_total[5m] offset 1h)) by (reason) * ${factor}"));
  ASSERT_EQ(refs.selectors.size(), 3u);
  EXPECT_EQ(refs.selectors[0].metric, "mirrord_x_bucket");
  ASSERT_EQ(refs.selectors[0].matchers.size(), 3u);
  EXPECT_EQ(refs.selectors[0].matchers[1].label, "trigger");
  EXPECT_EQ(refs.selectors[0].matchers[1].op, "=~");
  EXPECT_EQ(refs.selectors[0].matchers[1].value, "webhook|poll");
  EXPECT_EQ(refs.selectors[0].matchers[2].op, "!=");
  EXPECT_EQ(refs.selectors[0].matchers[2].value, "}");
  EXPECT_EQ(refs.selectors[1].metric, "up");
  EXPECT_EQ(refs.selectors[2].metric, "mirrord_y_total");
  EXPECT_THAT(refs.grouping_labels, ElementsAre("instance", "le", "reason", "trigger"));

  EXPECT_FALSE(ScanPromql("sum(mirrord_x{a=\"b\")").ok());
  EXPECT_FALSE(ScanPromql("{__name__=\"mirrord_x\"}").ok());
}

TEST(MonitoringPromql, ChecksSelectorsAgainstTheExposition) {
  ASSERT_OK_AND_ASSIGN(Exposition exp,
                       ParseExposition("# TYPE mirrord_h_seconds histogram\n"
                                       "mirrord_h_seconds_bucket{kind=\"a\",le=\"1\"} 0\n"
                                       "mirrord_h_seconds_bucket{kind=\"a\",le=\"+Inf\"} 0\n"
                                       "mirrord_h_seconds_sum{kind=\"a\"} 0\n"
                                       "mirrord_h_seconds_count{kind=\"a\"} 0\n"
                                       "# TYPE mirrord_c_total counter\n"
                                       "mirrord_c_total{reason=\"disk\"} 0\n"));
  std::set<std::string> families;
  auto problems = [&](const std::string& expr) {
    return CheckExpression("q", expr, exp, {"job:mirrord_c:rate5m"}, &families);
  };
  EXPECT_THAT(problems("sum by (le, kind) (rate(mirrord_h_seconds_bucket{le=\"1\"}[5m])) / "
                       "mirrord_h_seconds_count{job=\"x\"} + "
                       "mirrord_c_total{reason=~\"d.*\"} + job:mirrord_c:rate5m + up"),
              ::testing::IsEmpty());
  EXPECT_THAT(families, ElementsAre("mirrord_c_total", "mirrord_h_seconds"));
  EXPECT_THAT(problems("mirrord_h_seconds"), ElementsAre(HasSubstr("is a histogram")));
  EXPECT_THAT(problems("mirrord_c_total_bucket"), ElementsAre(HasSubstr("not in mirrord's")));
  EXPECT_THAT(problems("mirrord_missing_total"), ElementsAre(HasSubstr("not in mirrord's")));
  EXPECT_THAT(problems("mirord_c_total"), ElementsAre(HasSubstr("not one of mirrord's")));
  EXPECT_THAT(problems("job:other:rate5m"), ElementsAre(HasSubstr("recording rule")));
  EXPECT_THAT(problems("mirrord_c_total{reason=\"disk_full\"}"),
              ElementsAre(HasSubstr("matches no series")));
  EXPECT_THAT(problems("mirrord_c_total{reason=~\"x|y\"}"),
              ElementsAre(HasSubstr("matches no series")));
  EXPECT_THAT(problems("mirrord_c_total{outcome=\"failed\"}"),
              ElementsAre(HasSubstr("has no label outcome")));
  EXPECT_THAT(problems("mirrord_h_seconds_bucket{le=\"0.5\"}"),
              ElementsAre(HasSubstr("matches no series")));
  EXPECT_THAT(problems("sum by (resaon) (mirrord_c_total)"),
              ElementsAre(HasSubstr("label resaon")));
  EXPECT_THAT(problems("vector(1)"), ElementsAre(HasSubstr("selects no metric")));
}

TEST(MonitoringPromql, ReadsRuleFileExpressions) {
  ASSERT_OK_AND_ASSIGN(RuleFile file, ParseRuleFile("groups:\n"
                                                    "  - name: g\n"
                                                    "    rules:\n"
                                                    "      - record: job:a:rate5m\n"
                                                    "        expr: sum(rate(a[5m]))\n"
                                                    "      - alert: One\n"
                                                    "        expr: |\n"
                                                    "          b\n"
                                                    "\n"
                                                    "          > 1\n"
                                                    "        for: 5m\n"
                                                    "        labels:\n"
                                                    "          severity: warning\n"
                                                    "      - alert: Two\n"
                                                    "        expr: 'c{x=''y''}'\n"));
  EXPECT_THAT(file.exprs,
              ElementsAre("sum(rate(a[5m]))\n", "          b\n\n          > 1\n", "c{x='y'}"));
  EXPECT_THAT(file.expr_rules, ElementsAre("job:a:rate5m", "One", "Two"));
  EXPECT_THAT(file.alerts, ElementsAre("One", "Two"));
  EXPECT_THAT(file.records, ElementsAre("job:a:rate5m"));
  EXPECT_THAT(file.alert_lines["One"], ::testing::Contains("          severity: warning"));
}

// ---------------------------------------------------------------------------------------
// The rules.

TEST(MonitoringRules, PassPromtoolCheckAndEveryRuleIsRead) {
  std::optional<ProcessResult> check = RunPromtool({"check", "rules", kRulesFile.string()});
  if (!check) return;
  ASSERT_EQ(check->exit_code, 0) << check->Describe() << "\n" << check->stdout_text;
  std::smatch m;
  static const std::regex count_re(R"(SUCCESS: (\d+) rules found)");
  ASSERT_TRUE(std::regex_search(check->stdout_text, m, count_re)) << check->stdout_text;
  int promtool_count = std::stoi(m[1]);

  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileToString(kRulesFile));
  ASSERT_OK_AND_ASSIGN(RuleFile file, ParseRuleFile(text));
  EXPECT_GT(promtool_count, 0);
  EXPECT_EQ(file.exprs.size(), static_cast<size_t>(promtool_count));
  EXPECT_EQ(file.alerts.size() + file.records.size(), static_cast<size_t>(promtool_count));
}

TEST(MonitoringRules, EveryAlertHasASeverityASummaryAndADescription) {
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileToString(kRulesFile));
  ASSERT_OK_AND_ASSIGN(RuleFile file, ParseRuleFile(text));
  ASSERT_FALSE(file.alerts.empty());
  static const std::regex severity_re(R"(^\s+severity:\s*(critical|warning|info)\s*$)");
  static const std::regex summary_re(R"(^\s+summary:\s*\S.*$)");
  static const std::regex description_re(R"(^\s+description:\s*\S.*$)");
  for (const std::string& alert : file.alerts) {
    const std::vector<std::string>& lines = file.alert_lines[alert];
    for (const auto& [name, re] :
         {std::pair{"severity", &severity_re}, std::pair{"summary", &summary_re},
          std::pair{"description", &description_re}}) {
      bool found = false;
      for (const std::string& line : lines) found = found || std::regex_match(line, *re);
      EXPECT_TRUE(found) << alert << " has no " << name;
    }
  }
}

TEST(MonitoringRules, PassTheirUnitTestsInWhichEveryAlertFires) {
  std::optional<ProcessResult> test = RunPromtool(
      {"test", "rules", kRulesTestFile.filename().string()}, kRulesTestFile.parent_path());
  if (!test) return;
  EXPECT_EQ(test->exit_code, 0) << test->Describe() << "\n" << test->stdout_text;
  EXPECT_THAT(test->stdout_text, HasSubstr("SUCCESS"));

  // Every alert is expected to fire somewhere: an `alertname:` case with exp_labels.
  ASSERT_OK_AND_ASSIGN(std::string rules_text, ReadFileToString(kRulesFile));
  ASSERT_OK_AND_ASSIGN(RuleFile rules, ParseRuleFile(rules_text));
  ASSERT_OK_AND_ASSIGN(std::string tests_text, ReadFileToString(kRulesTestFile));
  std::vector<std::string> lines;
  std::istringstream in(tests_text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  static const std::regex alertname_re(R"(^\s+alertname:\s*(\S+)\s*$)");
  std::set<std::string> fired;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(lines[i], m, alertname_re)) continue;
    for (size_t j = i + 1; j < lines.size(); ++j) {
      if (lines[j].find("eval_time:") != std::string::npos ||
          lines[j].find("alertname:") != std::string::npos ||
          lines[j].find("- name:") != std::string::npos) {
        break;
      }
      if (lines[j].find("exp_labels:") != std::string::npos) fired.insert(m[1]);
    }
  }
  ASSERT_FALSE(rules.alerts.empty());
  for (const std::string& alert : rules.alerts) {
    EXPECT_TRUE(fired.contains(alert))
        << alert << " is never expected to fire in " << kRulesTestFile.filename();
  }
}

// promtool really evaluates the expectations: a wrong one fails.
TEST(MonitoringRules, PromtoolRejectsAWrongExpectation) {
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("monitoring-"));
  ASSERT_OK_AND_ASSIGN(std::string rules, ReadFileToString(kRulesFile));
  ASSERT_OK(WriteFileAtomically(dir.path() / "mirrord.rules.yml", rules));
  ASSERT_OK(WriteFileAtomically(dir.path() / "wrong.test.yml",
                                "rule_files: [mirrord.rules.yml]\n"
                                "tests:\n"
                                "  - interval: 1m\n"
                                "    input_series:\n"
                                "      - series: 'up{job=\"mirrord\", instance=\"m:8080\"}'\n"
                                "        values: '1x20'\n"
                                "    alert_rule_test:\n"
                                "      - eval_time: 10m\n"
                                "        alertname: MirrordDown\n"
                                "        exp_alerts:\n"
                                "          - exp_labels: {severity: critical, job: mirrord,\n"
                                "                         instance: \"m:8080\"}\n"));
  std::optional<ProcessResult> test = RunPromtool({"test", "rules", "wrong.test.yml"}, dir.path());
  if (!test) return;
  EXPECT_NE(test->exit_code, 0) << test->stdout_text;
  EXPECT_THAT(test->stdout_text + test->stderr_text, HasSubstr("MirrordDown"));
}

// ---------------------------------------------------------------------------------------
// The dashboard.

TEST(MonitoringDashboard, IsAGrafanaModelWithQueriesInEveryPanel) {
  ASSERT_OK_AND_ASSIGN(Dashboard d, LoadDashboard());
  EXPECT_THAT(d.problems, ::testing::IsEmpty());
  EXPECT_GT(d.panel_count, 0);
  EXPECT_GE(d.queries.size(), static_cast<size_t>(d.panel_count));
}

// ---------------------------------------------------------------------------------------
// Metric names against a freshly started mirrord.

// One mirrord for the suite (starting it with kRegisteredRepos repos takes a while): one
// real repo (synced, so every per-repo series exists), the rest pointing at a closed port
// (their first sync fails at once and is not retried). Its /metrics is read once.
struct ScrapedMirrord {
  std::optional<TempDir> dir;
  std::unique_ptr<TestUpstream> upstream;
  std::unique_ptr<MirrordProcess> mirrord;
  std::string body;
};

Result<std::unique_ptr<ScrapedMirrord>> StartAndScrape() {
  auto m = std::make_unique<ScrapedMirrord>();
  ASSIGN_OR_RETURN(TempDir dir, TempDir::Create("monitoring-"));
  m->dir.emplace(std::move(dir));
  ASSIGN_OR_RETURN(m->upstream, TestUpstream::Start(m->dir->path() / "upstream"));
  ASSIGN_OR_RETURN(std::filesystem::path bare, m->upstream->CreateBareRepo("aaa/real"));
  ASSIGN_OR_RETURN(WorkRepo work, WorkRepo::Init(m->dir->path() / "work"));
  RETURN_IF_ERROR(work.CommitFile("README", "real\n", "first").status());
  RETURN_IF_ERROR(work.Push(bare.string(), {"HEAD:refs/heads/main"}));
  MirrordOptions options;
  // A [registries] entry: the push series exist from the start for each one.
  options.extra_toml =
      "[sync]\nretry_attempts = 1\n\n[registries.lab]\nurl = "
      "\"https://registry.lab\"\n\n[[repos]]\nname = \"aaa/real\"\nurl = \"" +
      m->upstream->UrlFor("aaa/real") + "\"\n";
  for (int i = 1; i < kRegisteredRepos; ++i) {
    options.extra_toml += "[[repos]]\nname = \"org/repo-" + std::to_string(i) +
                          "\"\nurl = \"http://127.0.0.1:1/repo-" + std::to_string(i) + ".git\"\n";
  }
  ASSIGN_OR_RETURN(m->mirrord, MirrordProcess::Start(options));
  const std::string synced = "mirrord_repo_last_sync_succeeded{repo=\"aaa/real\"} 1";
  if (!PollUntil(
          [&] {
            Result<HttpReply> r = HttpFetch(m->mirrord->BaseUrl() + "/metrics");
            return r.ok() && r->body.find(synced) != std::string::npos;
          },
          std::chrono::seconds(120))) {
    return DeadlineExceeded("aaa/real never synced:\n" + m->mirrord->Logs());
  }
  // Served traffic of the git protocol, counted.
  RETURN_IF_ERROR(Git({"ls-remote", m->mirrord->UrlFor("aaa/real")}).status());
  ASSIGN_OR_RETURN(HttpReply reply, HttpFetch(m->mirrord->BaseUrl() + "/metrics"));
  if (reply.status != 200) return Internal("/metrics: " + reply.body);
  m->body = reply.body;
  return m;
}

class MonitoringMetricNames : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (MirrordProcess::BinariesBuilt())
      scraped_ = new Result<std::unique_ptr<ScrapedMirrord>>(StartAndScrape());
  }
  static void TearDownTestSuite() {
    delete scraped_;
    scraped_ = nullptr;
  }

  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_NE(scraped_, nullptr);
    ASSERT_OK(scraped_->status());
    body_ = (**scraped_)->body;
    ASSERT_OK_AND_ASSIGN(exposition_, ParseExposition(body_));
    for (const std::string& family : kDashboardFamilies) {
      ASSERT_TRUE(exposition_.types.contains(family)) << family << " missing from\n" << body_;
    }
  }

  static Result<std::unique_ptr<ScrapedMirrord>>* scraped_;
  std::string body_;
  Exposition exposition_;
};

Result<std::unique_ptr<ScrapedMirrord>>* MonitoringMetricNames::scraped_ = nullptr;

// Label cardinality stays what monitoring/README.md says: the repo label on the four
// per-repo gauges only, one series each per registered repo; and promtool finds nothing
// to say about the exposition at that size.
TEST_F(MonitoringMetricNames, PromtoolCheckMetricsIsCleanWithAThousandRepos) {
  std::map<std::string, int> repo_series;
  for (const auto& [sample, label_sets] : exposition_.samples) {
    for (const LabelSet& labels : label_sets) {
      if (labels.contains("repo")) ++repo_series[sample];
    }
  }
  EXPECT_THAT(repo_series,
              ::testing::UnorderedElementsAre(
                  ::testing::Pair("mirrord_repo_last_success_timestamp_seconds", kRegisteredRepos),
                  ::testing::Pair("mirrord_repo_last_sync_duration_seconds", ::testing::Ge(1)),
                  ::testing::Pair("mirrord_repo_last_sync_bytes", ::testing::Ge(1)),
                  ::testing::Pair("mirrord_repo_last_sync_succeeded", ::testing::Ge(1))));
  for (const auto& [sample, count] : repo_series) EXPECT_LE(count, kRegisteredRepos) << sample;
  EXPECT_THAT(body_, HasSubstr("mirrord_build_info{version=\""));
  EXPECT_THAT(
      body_, ::testing::ContainsRegex("mirrord_served_requests_total\\{protocol=\"git\"\\} [1-9]"));

  // promtool reads the exposition on stdin.
  std::optional<ProcessResult> check = RunPromtool({"check", "metrics"}, {}, body_);
  if (!check) return;
  EXPECT_EQ(check->exit_code, 0) << check->Describe() << "\n" << check->stdout_text;
  EXPECT_EQ(check->stdout_text + check->stderr_text, "") << "promtool has remarks";
}

TEST_F(MonitoringMetricNames, DashboardQueriesUseExposedMetrics) {
  ASSERT_OK_AND_ASSIGN(Dashboard d, LoadDashboard());
  ASSERT_FALSE(d.queries.empty());
  std::set<std::string> families;
  std::vector<std::string> problems;
  for (const DashboardQuery& q : d.queries) {
    std::set<std::string> grouping;
    for (std::string& p : CheckExpression(q.where, q.expr, exposition_, {}, &families, &grouping)) {
      problems.push_back(std::move(p));
    }
    // A legend label must survive the query's aggregation.
    for (const std::string& label : LegendLabels(q.legend)) {
      bool known = grouping.empty()
                       ? (kTargetLabels.contains(label) || exposition_.label_names.contains(label))
                       : grouping.contains(label);
      if (!known)
        problems.push_back(q.where + ": legend uses {{" + label + "}}, not in the result");
    }
  }
  ASSERT_EQ(d.variable_queries.size(), d.variable_labels.size());
  ASSERT_FALSE(d.variable_queries.empty());
  for (size_t i = 0; i < d.variable_queries.size(); ++i) {
    const DashboardQuery& q = d.variable_queries[i];
    for (std::string& p : CheckExpression(q.where, q.expr, exposition_, {}, &families)) {
      problems.push_back(std::move(p));
    }
    if (!kTargetLabels.contains(d.variable_labels[i]) &&
        !exposition_.label_names.contains(d.variable_labels[i])) {
      problems.push_back(q.where + ": unknown label " + d.variable_labels[i]);
    }
  }
  EXPECT_THAT(problems, ::testing::IsEmpty());
  for (const std::string& family : kDashboardFamilies) {
    EXPECT_TRUE(families.contains(family)) << "no dashboard panel shows " << family;
  }
}

TEST_F(MonitoringMetricNames, RuleExpressionsUseExposedMetrics) {
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileToString(kRulesFile));
  ASSERT_OK_AND_ASSIGN(RuleFile file, ParseRuleFile(text));
  ASSERT_FALSE(file.exprs.empty());
  std::set<std::string> families;
  std::vector<std::string> problems;
  for (size_t i = 0; i < file.exprs.size(); ++i) {
    for (std::string& p : CheckExpression("rule " + file.expr_rules[i], file.exprs[i], exposition_,
                                          file.records, &families)) {
      problems.push_back(std::move(p));
    }
  }
  EXPECT_THAT(problems, ::testing::IsEmpty());
  EXPECT_FALSE(families.empty());
}

}  // namespace
}  // namespace mirrord::test
