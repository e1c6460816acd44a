// The read-token part of the Catalog: names, hashes and granted globs of read tokens.
#include <boost/json.hpp>
#include <string>

#include "storage/catalog.h"

namespace mirrord {
namespace {

namespace json = boost::json;

std::string GlobsJson(const std::vector<std::string>& globs) {
  json::array a;
  for (const std::string& g : globs) a.emplace_back(g);
  return json::serialize(a);
}

// A corrupt row grants nothing rather than failing every lookup.
std::vector<std::string> GlobsFromJson(std::string_view text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const json::value& e : v.as_array()) {
    if (e.is_string()) out.emplace_back(e.as_string());
  }
  return out;
}

constexpr std::string_view kTokenSelect =
    "SELECT name, token_hash, repos, created_at FROM read_tokens ";

ReadTokenRecord ReadToken(const Statement& s) {
  return {s.ColumnText(0), s.ColumnText(1), GlobsFromJson(s.ColumnText(2)), s.ColumnInt64(3)};
}

}  // namespace

Status Catalog::InsertReadToken(const ReadTokenRecord& token) {
  if (token.name.empty() || token.token_hash.empty() || token.repos.empty()) {
    return InvalidArgument("a read token needs a name, a hash and at least one glob");
  }
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt,
                   db_.Prepare("INSERT INTO read_tokens (name, token_hash, repos, created_at) "
                               "VALUES (?, ?, ?, ?)"));
  RETURN_IF_ERROR(
      stmt.BindAll(token.name, token.token_hash, GlobsJson(token.repos), token.created_at));
  Status s = stmt.Run();
  if (s.code() == StatusCode::kAlreadyExists) {
    return AlreadyExists("a token called " + token.name + " already exists");
  }
  return s;
}

Result<std::vector<ReadTokenRecord>> Catalog::ListReadTokens() {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kTokenSelect) + "ORDER BY name"));
  std::vector<ReadTokenRecord> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.push_back(ReadToken(stmt));
  }
  return out;
}

Result<std::optional<ReadTokenRecord>> Catalog::FindReadToken(std::string_view token_hash) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare(std::string(kTokenSelect) + "WHERE token_hash = ?"));
  RETURN_IF_ERROR(stmt.BindAll(token_hash));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<ReadTokenRecord>();
  return std::optional<ReadTokenRecord>(ReadToken(stmt));
}

Status Catalog::DeleteReadToken(std::string_view name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("DELETE FROM read_tokens WHERE name = ?"));
  RETURN_IF_ERROR(stmt.BindAll(name));
  RETURN_IF_ERROR(stmt.Run());
  if (db_.Changes() == 0) return NotFound("no token called " + std::string(name));
  return Status::Ok();
}

}  // namespace mirrord
