// GitHub webhook deliveries parsed into what mirrord acts on: which repository, which ref,
// what happened, and when the upstream push happened (for push-to-servable latency).
// Parsing is pure (no I/O, no clock, no daemon state) and never throws; check the signature
// with VerifyGitHubSignature (webhook/signature.h) over the raw body before parsing it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mirrord {

inline constexpr std::string_view kGitHubEventHeader = "X-GitHub-Event";
inline constexpr std::string_view kGitHubDeliveryHeader = "X-GitHub-Delivery";

// Bounds on untrusted input. Event names are GitHub's snake_case identifiers
// ("pull_request_review_comment" is among the longest); delivery ids are GUIDs.
inline constexpr size_t kMaxGitHubEventNameLength = 64;
inline constexpr size_t kMaxGitHubDeliveryIdLength = 100;
// Payload nesting limit (objects and arrays). Real payloads nest about 6 deep.
inline constexpr size_t kMaxGitHubPayloadDepth = 64;
// A ref name or URL longer than this is refused as malformed.
inline constexpr size_t kMaxGitHubRefLength = 1024;
inline constexpr size_t kMaxGitHubUrlLength = 2048;

enum class GitHubEventKind { kPing, kPush, kCreate, kDelete, kRepository, kOther };

// "ping", "push", "create", "delete", "repository" or "other": a fixed, bounded set, so it
// is safe as a metric label (the raw event name is not).
std::string_view GitHubEventKindName(GitHubEventKind kind);

// One parsed delivery. Members that do not apply to the event kind are left empty/false.
// Thread-safety: a value type.
struct GitHubEvent {
  GitHubEventKind kind = GitHubEventKind::kOther;
  // X-GitHub-Event as given (surrounding blanks removed): 1..kMaxGitHubEventNameLength
  // bytes of [A-Za-z0-9_.-].
  std::string event_name;
  // X-GitHub-Delivery as given (surrounding blanks removed): 1..kMaxGitHubDeliveryIdLength
  // printable ASCII bytes, no spaces. The key for recognising redeliveries.
  std::string delivery_id;

  // repository.full_name, "owner/name" exactly as GitHub spells it (GitHub compares names
  // case-insensitively, so should whoever looks it up). Two segments of [A-Za-z0-9._-],
  // 1..100 bytes each, neither "." nor "..". Empty only for a ping from an organisation or
  // app hook, or a kOther event without a usable repository.
  std::string repo_full_name;
  // The repository's clone_url, html_url, git_url, ssh_url and url, in that order, those
  // present and non-empty, without duplicates: what a configured upstream URL may match.
  std::vector<std::string> clone_urls;

  // push: "ref" as sent, a full ref name ("refs/heads/main", "refs/tags/v1").
  // create/delete: the short name normalised to a full one by ref_type ("branch" ->
  // refs/heads/, "tag" -> refs/tags/); empty for another ref_type (sync everything).
  // Free of control characters and at most kMaxGitHubRefLength bytes; not otherwise checked
  // against git's ref name rules.
  std::string ref;
  // create/delete: "branch", "tag", or whatever else GitHub sent ("repository" for a
  // repository's creation), 1..64 bytes of [A-Za-z0-9_-].
  std::string ref_type;
  // push: the ref's old and new object ids (40 or 64 lower-case hex digits). A branch
  // created by the push has `before` all zeros; a deleted one has `after` all zeros.
  std::string before;
  std::string after;
  bool created = false;  // push: the push created the ref
  bool deleted = false;  // push: the push deleted the ref
  bool forced = false;   // push: a forced (non-fast-forward) update
  // push: when the push happened, seconds since the Unix epoch: repository.pushed_at (an
  // integer in push payloads, an ISO 8601 string in others; both accepted) or else
  // head_commit.timestamp (RFC 3339 with an offset, the commit's time: earlier than the
  // push when old commits are pushed). Absent when neither is present.
  std::optional<int64_t> pushed_at_unix;

  // repository: the action ("renamed", "deleted", "archived", "unarchived", "privatized",
  // "publicized", "transferred", "edited", "created", ...). Empty for other kinds.
  std::string action;
  // repository "renamed": the new full name (repository.full_name) and the old repository
  // name (changes.repository.name.from, without owner) and old full name (owner/old_name).
  // repository "transferred": new_full_name as above, old_full_name from the previous owner
  // (changes.owner.from.user.login or .organization.login) when present; old_name empty.
  std::string new_full_name;
  std::string old_name;
  std::string old_full_name;

  // ping: hook_id and the zen line, for the log (as PrintableExcerpt gives it: bytes other
  // than printable ASCII as \xNN, at most 200 bytes of the original).
  std::optional<int64_t> hook_id;
  std::string zen;
};

// True for the kinds that should queue a sync of repo_full_name: push (including a push
// that deletes a ref), create and delete. repository events are recorded, never synced or
// deleted automatically; ping and kOther do nothing.
bool TriggersSync(const GitHubEvent& event);

// Parses one delivery from its X-GitHub-Event and X-GitHub-Delivery header values, its
// Content-Type header value and its raw body.
//
// Content types: "application/json" (the recommended webhook setting), and
// "application/x-www-form-urlencoded" (the other choice GitHub offers), whose body is
// `payload=<percent-encoded JSON>`. Parameters such as "; charset=utf-8" are ignored, and an
// empty content type is read as JSON. Anything else is InvalidArgument naming the type and
// asking for application/json.
//
// OK: every member that applies to the kind is filled and validated as documented above.
// Event names other than ping/push/create/delete/repository give kind kOther without error
// (the body must still be a JSON object); their repo_full_name and clone_urls are filled
// when the payload has a well-formed repository, and left empty otherwise.
// InvalidArgument with a short message ("<event> payload: <member path>: <what>" for
// payload errors; untrusted text quoted through PrintableExcerpt) for: a missing or
// malformed header value, an unsupported content type, a form body without a `payload`
// field or with a bad percent escape, a body that is not a JSON object (bad syntax, invalid
// UTF-8, nesting deeper than kMaxGitHubPayloadDepth), a push, create, delete or repository
// payload without a repository object (a ping's repository is optional but checked when
// present), a member of the wrong JSON type, a full name, ref, URL or object id that breaks
// the rules above, a repository event without an action, a renamed event without
// changes.repository.name.from, and an unparseable or out-of-range pushed_at or
// head_commit.timestamp.
Result<GitHubEvent> ParseGitHubEvent(std::string_view event_header,
                                     std::string_view delivery_header,
                                     std::string_view content_type, std::string_view body);

}  // namespace mirrord
