#include "daemon/github_webhook_handler.h"

#include <boost/json.hpp>

#include "common/file_util.h"
#include "common/log.h"
#include "daemon/blocking.h"
#include "webhook/github_event.h"
#include "webhook/signature.h"

namespace mirrord {
namespace {

namespace json = boost::json;

// Deliveries are remembered this long: GitHub's manual redelivery covers the last 3 days.
constexpr int64_t kKeepDeliveriesMs = 7LL * 24 * 3600 * 1000;

std::string StatusJson(std::string_view status, std::string_view message = {}) {
  json::object o{{"status", status}};
  if (!message.empty()) o["message"] = message;
  return json::serialize(o) + "\n";
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What a repository event says, for status: "renamed to org/new", "archived", ...
std::string DescribeRepositoryEvent(const GitHubEvent& e) {
  if (e.action == "renamed" && !e.new_full_name.empty()) return "renamed to " + e.new_full_name;
  if (e.action == "transferred" && !e.new_full_name.empty()) {
    return "transferred to " + e.new_full_name;
  }
  return PrintableExcerpt(e.action, 40);
}

}  // namespace

Result<std::string> ReadWebhookSecret(const std::filesystem::path& file) {
  ASSIGN_OR_RETURN(std::string secret, ReadFileToString(file));
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
    secret.pop_back();
  }
  if (secret.empty()) return InvalidArgument("webhook secret file " + file.string() + " is empty");
  return secret;
}

GitHubWebhookHandler::GitHubWebhookHandler(std::string secret, WebhookTarget& target,
                                           Metrics& metrics,
                                           boost::asio::thread_pool& blocking_pool)
    : secret_(std::move(secret)), target_(target), metrics_(metrics), pool_(blocking_pool) {}

boost::asio::awaitable<void> GitHubWebhookHandler::Handle(HttpExchange& exchange) {
  const HttpRequest& req = exchange.request();
  if (req.method() != http::verb::post) {
    HttpResponse res = MakeResponse(req, http::status::method_not_allowed, "use POST\n");
    res.set(http::field::allow, "POST");
    co_return co_await exchange.Respond(std::move(res));
  }
  const std::shared_ptr<const std::string> secret = secret_.Get();
  if (secret->empty()) {
    co_return co_await exchange.Respond(
        MakeResponse(req, http::status::not_found,
                     "GitHub webhooks are not configured ([webhooks.github] secret_file)\n"));
  }
  const std::string event_header(req[kGitHubEventHeader]);
  // Metrics map events mirrord does not handle to "other".
  const std::string event_label = PrintableExcerpt(event_header, 40);
  // The signature first: an unsigned request changes nothing, not even the delivery log.
  if (Status s = VerifyGitHubSignature(*secret, req.body(), req[kGitHubSignatureHeader]); !s.ok()) {
    metrics_.RecordWebhookDelivery(event_label, "unauthorized");
    MLOG(Warning) << "webhook from " << exchange.peer() << " rejected: " << s.message();
    co_return co_await exchange.Respond(MakeResponse(req, http::status::unauthorized,
                                                     StatusJson("unauthorized", s.message()),
                                                     "application/json"));
  }
  Outcome outcome = co_await RunBlocking(pool_, [&] {
    return Process(event_header, req[kGitHubDeliveryHeader], req[http::field::content_type],
                   req.body());
  });
  co_await exchange.Respond(
      MakeResponse(req, outcome.status, std::move(outcome.body), "application/json"));
}

void GitHubWebhookHandler::RecordTooLarge(const http::request_header<>& header) {
  const std::string event = PrintableExcerpt(header[kGitHubEventHeader], 40);
  metrics_.RecordWebhookDelivery(event, "too_large");
  MLOG(Warning) << "webhook " << event << " (delivery "
                << PrintableExcerpt(header[kGitHubDeliveryHeader], 60) << ") refused: body over "
                << kGitHubWebhookBodyLimit << " bytes";
}

GitHubWebhookHandler::Outcome GitHubWebhookHandler::Process(std::string_view event_header,
                                                            std::string_view delivery_header,
                                                            std::string_view content_type,
                                                            const std::string& body) {
  Result<GitHubEvent> parsed = ParseGitHubEvent(event_header, delivery_header, content_type, body);
  if (!parsed.ok()) {
    metrics_.RecordWebhookDelivery(event_header, "bad_request");
    return {http::status::bad_request, StatusJson("bad_request", parsed.status().message())};
  }
  const GitHubEvent& e = *parsed;
  const std::string label(GitHubEventKindName(e.kind));
  if (e.kind == GitHubEventKind::kPing) {
    metrics_.RecordWebhookDelivery(label, "ignored");
    MLOG(Info) << "webhook ping (delivery " << e.delivery_id << "): " << e.zen;
    return {http::status::ok, StatusJson("pong")};
  }
  Result<bool> first =
      target_.RecordDelivery("delivery:" + e.delivery_id, NowMs(), kKeepDeliveriesMs);
  if (!first.ok()) {
    return {http::status::service_unavailable, StatusJson("unavailable", first.status().message())};
  }
  if (!*first) {
    metrics_.RecordWebhookDelivery(label, "duplicate");
    MLOG(Info) << "webhook delivery " << e.delivery_id << " already handled; acknowledged";
    return {http::status::ok, StatusJson("duplicate")};
  }
  Result<std::vector<std::string>> repos = target_.FindReposOfUpstream(e.clone_urls);
  if (!repos.ok()) {
    return {http::status::service_unavailable, StatusJson("unavailable", repos.status().message())};
  }
  if (repos->empty()) {
    metrics_.RecordWebhookDelivery(label, "ignored");
    MLOG(Info) << "webhook " << label << " for " << PrintableExcerpt(e.repo_full_name, 100)
               << ": not mirrored here; ignored";
    return {http::status::accepted, StatusJson("ignored", "repository not mirrored")};
  }
  if (e.kind == GitHubEventKind::kRepository) {
    const std::string what = DescribeRepositoryEvent(e);
    for (const std::string& repo : *repos) {
      if (Status s = target_.RecordUpstreamEvent(repo, what); !s.ok()) {
        MLOG(Warning) << "record upstream event for " << repo << ": " << s.ToString();
      }
      MLOG(Warning) << "upstream of " << repo << " reports: " << what
                    << " (the mirror is kept as it is)";
    }
    metrics_.RecordWebhookDelivery(label, "ignored");
    return {http::status::accepted, StatusJson("recorded", what)};
  }
  if (!TriggersSync(e)) {
    metrics_.RecordWebhookDelivery(label, "ignored");
    return {http::status::accepted, StatusJson("ignored")};
  }
  const int64_t pushed_at_ms = e.pushed_at_unix ? *e.pushed_at_unix * 1000 : 0;
  json::array runs;
  for (const std::string& repo : *repos) {
    Result<int64_t> run =
        target_.RequestSync(repo, TriggerInfo(SyncTrigger::kWebhook, pushed_at_ms));
    if (!run.ok()) {
      MLOG(Warning) << "webhook: cannot queue " << repo << ": " << run.status().ToString();
      continue;
    }
    runs.push_back(json::object{{"repo", repo}, {"run_id", *run}});
  }
  metrics_.RecordWebhookDelivery(label, "queued");
  MLOG(Info) << "webhook " << label << " " << PrintableExcerpt(e.ref, 200) << " (delivery "
             << e.delivery_id << "): " << runs.size() << " sync(s) queued";
  json::object o{{"status", "queued"}, {"runs", std::move(runs)}};
  return {http::status::accepted, json::serialize(o) + "\n"};
}

}  // namespace mirrord
