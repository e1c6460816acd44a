// mirrorctl token create NAME --repos GLOB... | list | revoke NAME: read tokens for private
// repositories, through /api/v1/tokens (daemon/tokens_api.h).
#include <boost/json.hpp>

#include "cli/commands.h"
#include "common/api_json.h"

namespace mirrord {
namespace {

namespace json = boost::json;

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string Globs(const json::object& o) {
  std::string out;
  if (const json::value* r = o.if_contains("repos"); r != nullptr && r->is_array()) {
    for (const json::value& g : r->as_array()) {
      if (!g.is_string()) continue;
      if (!out.empty()) out += " ";
      out += std::string(g.as_string());
    }
  }
  return out;
}

int Create(ApiClient& client, const TokenArgs& args, CommandIo& io) {
  json::array repos;
  for (const std::string& g : args.repos) repos.emplace_back(g);
  json::object body{{"name", args.name}, {"repos", std::move(repos)}};
  Result<ApiReply> reply = client.Post("/api/v1/tokens", json::serialize(body));
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "token create", io);
  Result<json::value> v = ParseJson(reply->body);
  if (!v.ok() || !v->is_object() || Str(v->as_object(), "token").empty()) {
    io.err << "mirrorctl: token create: mirrord's answer has no \"token\"\n";
    return kExitFailed;
  }
  if (io.json) return PrintJson(io, *v);
  io.out << Str(v->as_object(), "token") << "\n";
  io.err << "token " << args.name << " reads " << Globs(v->as_object())
         << "; it is shown only this once (use it as the password of git and docker, or as "
            "HF_TOKEN)\n";
  return kExitOk;
}

int List(ApiClient& client, CommandIo& io) {
  Result<ApiReply> reply = client.Get("/api/v1/tokens");
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "token list", io);
  Result<json::value> v = ParseJson(reply->body);
  const json::value* tokens =
      v.ok() && v->is_object() ? v->as_object().if_contains("tokens") : nullptr;
  if (tokens == nullptr || !tokens->is_array()) {
    io.err << "mirrorctl: token list: mirrord's answer has no \"tokens\" array\n";
    return kExitFailed;
  }
  if (io.json) return PrintJson(io, *v);
  if (tokens->as_array().empty()) {
    io.out << "no read tokens\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "REPOS", "CREATED"}};
  for (const json::value& t : tokens->as_array()) {
    if (!t.is_object()) continue;
    const json::object& o = t.as_object();
    int64_t created = 0;
    if (const json::value* c = o.if_contains("created_at"); c != nullptr && c->is_int64()) {
      created = c->as_int64();
    }
    rows.push_back({Str(o, "name"), Globs(o), FormatAge(created, ToUnixSeconds(io.clock.Now()))});
  }
  io.out << FormatTable(rows);
  return kExitOk;
}

int Revoke(ApiClient& client, const TokenArgs& args, CommandIo& io) {
  Result<ApiReply> reply = client.Delete("/api/v1/tokens/" + args.name);
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "token revoke", io);
  if (io.json) return PrintJson(io, json::object{{"name", args.name}, {"revoked", true}});
  io.out << "token " << args.name << " revoked\n";
  return kExitOk;
}

}  // namespace

int RunTokenCommand(ApiClient& client, const TokenArgs& args, CommandIo& io) {
  if (args.action == "create") return Create(client, args, io);
  if (args.action == "list") return List(client, io);
  if (args.action == "revoke") return Revoke(client, args, io);
  io.err << "mirrorctl: token: expected create, list or revoke\n";
  return kExitUsage;
}

}  // namespace mirrord
