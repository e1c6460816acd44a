#include "webhook/github_event.h"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <utility>

#include "common/log.h"

namespace mirrord {
namespace json = boost::json;
namespace {

constexpr size_t kMaxNameSegment = 100;
constexpr size_t kMaxActionLength = 64;
constexpr size_t kMaxZenLength = 200;
// 9999-12-31T23:59:59Z: anything later is not a time GitHub sent.
constexpr int64_t kMaxUnixSeconds = 253402300799;

// Untrusted text quoted in an error message.
std::string Quoted(std::string_view s) { return "\"" + PrintableExcerpt(s, 64) + "\""; }

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsVisibleAscii(char c) { return c > 0x20 && c < 0x7f; }

bool IsValidEventName(std::string_view s) {
  if (s.empty() || s.size() > kMaxGitHubEventNameLength) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool IsValidDeliveryId(std::string_view s) {
  if (s.empty() || s.size() > kMaxGitHubDeliveryIdLength) return false;
  for (char c : s) {
    if (!IsVisibleAscii(c)) return false;
  }
  return true;
}

// One segment of "owner/name": what GitHub allows in owner and repository names.
bool IsValidNameSegment(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameSegment || s == "." || s == "..") return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool IsValidFullName(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  return IsValidNameSegment(s.substr(0, slash)) && IsValidNameSegment(s.substr(slash + 1));
}

bool IsValidRef(std::string_view s) {
  if (s.empty() || s.size() > kMaxGitHubRefLength) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool IsValidUrl(std::string_view s) {
  if (s.empty() || s.size() > kMaxGitHubUrlLength) return false;
  for (char c : s) {
    if (!IsVisibleAscii(c)) return false;
  }
  return true;
}

bool IsValidObjectId(std::string_view s) {
  if (s.size() != 40 && s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsValidKeyword(std::string_view s) {
  if (s.empty() || s.size() > kMaxActionLength) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

// ---- Time stamps ------------------------------------------------------------------------

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

bool ReadDigits(std::string_view s, size_t* pos, size_t count, int* out) {
  if (s.size() - *pos < count) return false;
  int v = 0;
  for (size_t i = 0; i < count; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += count;
  *out = v;
  return true;
}

bool ReadChar(std::string_view s, size_t* pos, std::string_view accepted) {
  if (*pos >= s.size() || accepted.find(s[*pos]) == std::string_view::npos) return false;
  ++*pos;
  return true;
}

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)" to Unix seconds (fraction dropped);
// nullopt when malformed or outside [1970, 9999].
std::optional<int64_t> ParseTimestamp(std::string_view s) {
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(s, &pos, 4, &year) || !ReadChar(s, &pos, "-") ||
      !ReadDigits(s, &pos, 2, &month) || !ReadChar(s, &pos, "-") || !ReadDigits(s, &pos, 2, &day) ||
      !ReadChar(s, &pos, "Tt ") || !ReadDigits(s, &pos, 2, &hour) || !ReadChar(s, &pos, ":") ||
      !ReadDigits(s, &pos, 2, &minute) || !ReadChar(s, &pos, ":") ||
      !ReadDigits(s, &pos, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return std::nullopt;
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  if (pos < s.size() && s[pos] == '.') {
    size_t digits = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == digits) return std::nullopt;
  }
  int64_t offset = 0;
  if (ReadChar(s, &pos, "Zz")) {
    // UTC.
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int offset_hour = 0, offset_minute = 0;
    if (!ReadDigits(s, &pos, 2, &offset_hour) || !ReadChar(s, &pos, ":") ||
        !ReadDigits(s, &pos, 2, &offset_minute) || offset_hour > 23 || offset_minute > 59) {
      return std::nullopt;
    }
    offset = sign * (offset_hour * 3600 + offset_minute * 60);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  int64_t t = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  if (t < 0 || t > kMaxUnixSeconds) return std::nullopt;
  return t;
}

// ---- JSON access ------------------------------------------------------------------------

// Members of one JSON object, named in errors by their path from the document root
// ("repository.full_name"). A null member reads as absent, as GitHub sends null for
// members that do not apply.
class Members {
 public:
  Members(const json::object& object, std::string path)
      : object_(&object), path_(std::move(path)) {}

  const json::value* Find(std::string_view key) const {
    const json::value* v = object_->if_contains(json::string_view(key.data(), key.size()));
    return (v == nullptr || v->is_null()) ? nullptr : v;
  }

  std::string Path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  Status Error(std::string_view key, std::string_view what) const {
    return InvalidArgument(Path(key) + ": " + std::string(what));
  }

  // nullptr when absent; InvalidArgument when present but not a string.
  Result<const json::string*> String(std::string_view key) const {
    const json::value* v = Find(key);
    if (v == nullptr) return static_cast<const json::string*>(nullptr);
    if (!v->is_string()) return Error(key, "expected a string");
    return &v->get_string();
  }

  Result<std::string_view> RequiredString(std::string_view key) const {
    ASSIGN_OR_RETURN(const json::string* s, String(key));
    if (s == nullptr) return Error(key, "missing");
    return std::string_view(s->data(), s->size());
  }

  // Leaves *out alone when absent.
  Status Bool(std::string_view key, bool* out) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_bool()) return Error(key, "expected true or false");
    *out = v->get_bool();
    return Status::Ok();
  }

  // An integral JSON number in [0, INT64_MAX]; nullopt when absent.
  Result<std::optional<int64_t>> NonNegativeInteger(std::string_view key) const {
    const json::value* v = Find(key);
    if (v == nullptr) return std::optional<int64_t>();
    if (v->is_int64() && v->get_int64() >= 0) return std::optional<int64_t>(v->get_int64());
    if (v->is_int64() || v->is_uint64()) return Error(key, "out of range");
    return Error(key, "expected a non-negative integer");
  }

  // nullptr when absent; InvalidArgument when present but not an object.
  Result<const json::object*> Object(std::string_view key) const {
    const json::value* v = Find(key);
    if (v == nullptr) return static_cast<const json::object*>(nullptr);
    if (!v->is_object()) return Error(key, "expected an object");
    return &v->get_object();
  }

 private:
  const json::object* object_;
  std::string path_;
};

// ---- Body decoding ----------------------------------------------------------------------

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded value: '+' is a space, %XX a byte.
Result<std::string> FormDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return InvalidArgument("form body: bad percent escape at byte " + std::to_string(i));
      }
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The decoded `payload` field of a form body.
Result<std::string> FormPayload(std::string_view body) {
  std::optional<std::string> payload;
  while (true) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == "payload") {
      if (payload) return InvalidArgument("form body: more than one payload field");
      ASSIGN_OR_RETURN(payload,
                       FormDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  if (!payload) {
    return InvalidArgument(
        "form body has no payload field; set the webhook's content type to application/json");
  }
  return std::move(*payload);
}

enum class BodyFormat { kJson, kForm };

Result<BodyFormat> BodyFormatOf(std::string_view content_type) {
  std::string media;
  for (char c : TrimSpaces(content_type.substr(0, content_type.find(';')))) {
    media.push_back(AsciiLower(c));
  }
  if (media.empty() || media == "application/json") return BodyFormat::kJson;
  if (media == "application/x-www-form-urlencoded") return BodyFormat::kForm;
  return InvalidArgument("unsupported Content-Type " + Quoted(content_type) +
                         "; set the webhook's content type to application/json");
}

Result<json::value> ParseJsonObject(std::string_view text) {
  json::parse_options options;
  options.max_depth = kMaxGitHubPayloadDepth;
  boost::system::error_code ec;
  json::value value =
      json::parse(json::string_view(text.data(), text.size()), ec, json::storage_ptr(), options);
  if (ec) return InvalidArgument("body is not valid JSON: " + ec.message());
  if (!value.is_object()) return InvalidArgument("body is not a JSON object");
  return value;
}

// ---- Payload parts ----------------------------------------------------------------------

// repository.full_name and the clone URLs.
Status ReadRepository(const json::object& object, GitHubEvent* event) {
  Members repo(object, "repository");
  ASSIGN_OR_RETURN(std::string_view full_name, repo.RequiredString("full_name"));
  if (!IsValidFullName(full_name)) {
    return repo.Error("full_name", "expected \"owner/name\", got " + Quoted(full_name));
  }
  event->repo_full_name = std::string(full_name);
  event->clone_urls.clear();
  for (std::string_view key : {"clone_url", "html_url", "git_url", "ssh_url", "url"}) {
    ASSIGN_OR_RETURN(const json::string* url, repo.String(key));
    if (url == nullptr || url->empty()) continue;
    std::string_view text(url->data(), url->size());
    if (!IsValidUrl(text)) return repo.Error(key, "not a URL: " + Quoted(text));
    bool seen = false;
    for (const std::string& existing : event->clone_urls) seen = seen || existing == text;
    if (!seen) event->clone_urls.emplace_back(text);
  }
  return Status::Ok();
}

Status ReadRequiredRepository(const Members& root, GitHubEvent* event) {
  ASSIGN_OR_RETURN(const json::object* repo, root.Object("repository"));
  if (repo == nullptr) return root.Error("repository", "missing");
  return ReadRepository(*repo, event);
}

// A time that is an integer of Unix seconds or an ISO 8601 string.
Result<std::optional<int64_t>> ReadTime(const Members& members, std::string_view key) {
  const json::value* v = members.Find(key);
  if (v == nullptr) return std::optional<int64_t>();
  if (v->is_string()) {
    std::string_view text(v->get_string().data(), v->get_string().size());
    std::optional<int64_t> t = ParseTimestamp(text);
    if (!t) return members.Error(key, "not an ISO 8601 date-time: " + Quoted(text));
    return t;
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> t, members.NonNegativeInteger(key));
  if (t && *t > kMaxUnixSeconds) return members.Error(key, "out of range");
  return t;
}

Status ReadObjectId(const Members& root, std::string_view key, std::string* out) {
  ASSIGN_OR_RETURN(const json::string* id, root.String(key));
  if (id == nullptr) return Status::Ok();
  std::string_view text(id->data(), id->size());
  if (!IsValidObjectId(text)) return root.Error(key, "not an object id: " + Quoted(text));
  *out = std::string(text);
  return Status::Ok();
}

Status ParsePush(const Members& root, GitHubEvent* event) {
  RETURN_IF_ERROR(ReadRequiredRepository(root, event));
  ASSIGN_OR_RETURN(std::string_view ref, root.RequiredString("ref"));
  if (!IsValidRef(ref) || ref.substr(0, 5) != "refs/") {
    return root.Error("ref", "expected a full ref name, got " + Quoted(ref));
  }
  event->ref = std::string(ref);
  RETURN_IF_ERROR(ReadObjectId(root, "before", &event->before));
  RETURN_IF_ERROR(ReadObjectId(root, "after", &event->after));
  RETURN_IF_ERROR(root.Bool("created", &event->created));
  RETURN_IF_ERROR(root.Bool("deleted", &event->deleted));
  RETURN_IF_ERROR(root.Bool("forced", &event->forced));

  ASSIGN_OR_RETURN(const json::object* repo_object, root.Object("repository"));
  Members repo(*repo_object, "repository");
  ASSIGN_OR_RETURN(event->pushed_at_unix, ReadTime(repo, "pushed_at"));
  ASSIGN_OR_RETURN(const json::object* head_object, root.Object("head_commit"));
  if (head_object != nullptr) {
    Members head(*head_object, "head_commit");
    ASSIGN_OR_RETURN(const json::string* timestamp, head.String("timestamp"));
    if (!event->pushed_at_unix && timestamp != nullptr) {
      std::string_view text(timestamp->data(), timestamp->size());
      event->pushed_at_unix = ParseTimestamp(text);
      if (!event->pushed_at_unix) {
        return head.Error("timestamp", "not an RFC 3339 date-time: " + Quoted(text));
      }
    }
  }
  return Status::Ok();
}

// create and delete: "ref" is a short name qualified by "ref_type".
Status ParseCreateOrDelete(const Members& root, GitHubEvent* event) {
  RETURN_IF_ERROR(ReadRequiredRepository(root, event));
  ASSIGN_OR_RETURN(std::string_view ref_type, root.RequiredString("ref_type"));
  if (!IsValidKeyword(ref_type)) return root.Error("ref_type", "unexpected " + Quoted(ref_type));
  event->ref_type = std::string(ref_type);
  std::string_view prefix;
  if (ref_type == "branch") prefix = "refs/heads/";
  if (ref_type == "tag") prefix = "refs/tags/";
  if (prefix.empty()) {
    ASSIGN_OR_RETURN(const json::string* ignored, root.String("ref"));
    (void)ignored;
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::string_view ref, root.RequiredString("ref"));
  if (!IsValidRef(ref) || ref.size() + prefix.size() > kMaxGitHubRefLength) {
    return root.Error("ref", "not a " + std::string(ref_type) + " name: " + Quoted(ref));
  }
  event->ref = std::string(prefix) + std::string(ref);
  return Status::Ok();
}

Status ParseRepositoryEvent(const Members& root, GitHubEvent* event) {
  RETURN_IF_ERROR(ReadRequiredRepository(root, event));
  ASSIGN_OR_RETURN(std::string_view action, root.RequiredString("action"));
  if (!IsValidKeyword(action)) return root.Error("action", "unexpected " + Quoted(action));
  event->action = std::string(action);
  if (action != "renamed" && action != "transferred") return Status::Ok();

  event->new_full_name = event->repo_full_name;
  size_t slash = event->repo_full_name.find('/');
  std::string_view owner = std::string_view(event->repo_full_name).substr(0, slash);
  std::string_view name = std::string_view(event->repo_full_name).substr(slash + 1);
  ASSIGN_OR_RETURN(const json::object* changes_object, root.Object("changes"));
  if (action == "renamed") {
    if (changes_object == nullptr) return root.Error("changes", "missing");
    Members changes(*changes_object, "changes");
    ASSIGN_OR_RETURN(const json::object* repo_object, changes.Object("repository"));
    if (repo_object == nullptr) return changes.Error("repository", "missing");
    Members repo(*repo_object, "changes.repository");
    ASSIGN_OR_RETURN(const json::object* name_object, repo.Object("name"));
    if (name_object == nullptr) return repo.Error("name", "missing");
    Members name_change(*name_object, "changes.repository.name");
    ASSIGN_OR_RETURN(std::string_view from, name_change.RequiredString("from"));
    if (!IsValidNameSegment(from)) {
      return name_change.Error("from", "not a repository name: " + Quoted(from));
    }
    event->old_name = std::string(from);
    event->old_full_name = std::string(owner) + "/" + std::string(from);
    return Status::Ok();
  }
  // transferred: the previous owner is a user or an organisation; both are optional.
  if (changes_object == nullptr) return Status::Ok();
  Members changes(*changes_object, "changes");
  ASSIGN_OR_RETURN(const json::object* owner_object, changes.Object("owner"));
  if (owner_object == nullptr) return Status::Ok();
  ASSIGN_OR_RETURN(const json::object* from_object,
                   Members(*owner_object, "changes.owner").Object("from"));
  if (from_object == nullptr) return Status::Ok();
  Members from(*from_object, "changes.owner.from");
  for (std::string_view key : {"user", "organization"}) {
    ASSIGN_OR_RETURN(const json::object* account_object, from.Object(key));
    if (account_object == nullptr) continue;
    Members account(*account_object, from.Path(key));
    ASSIGN_OR_RETURN(std::string_view login, account.RequiredString("login"));
    if (!IsValidNameSegment(login)) {
      return account.Error("login", "not an account name: " + Quoted(login));
    }
    event->old_full_name = std::string(login) + "/" + std::string(name);
    break;
  }
  return Status::Ok();
}

Status ParsePing(const Members& root, GitHubEvent* event) {
  ASSIGN_OR_RETURN(const json::object* repo, root.Object("repository"));
  if (repo != nullptr) RETURN_IF_ERROR(ReadRepository(*repo, event));
  ASSIGN_OR_RETURN(event->hook_id, root.NonNegativeInteger("hook_id"));
  ASSIGN_OR_RETURN(const json::string* zen, root.String("zen"));
  if (zen != nullptr) {
    event->zen = PrintableExcerpt(std::string_view(zen->data(), zen->size()), kMaxZenLength);
  }
  return Status::Ok();
}

// Events mirrord does not act on: the repository is filled in for the log when it is
// well-formed, and ignored otherwise.
void ParseOther(const Members& root, GitHubEvent* event) {
  const json::value* repo = root.Find("repository");
  if (repo == nullptr || !repo->is_object()) return;
  GitHubEvent scratch;
  if (ReadRepository(repo->get_object(), &scratch).ok()) {
    event->repo_full_name = std::move(scratch.repo_full_name);
    event->clone_urls = std::move(scratch.clone_urls);
  }
}

GitHubEventKind KindOf(std::string_view event_name) {
  if (event_name == "ping") return GitHubEventKind::kPing;
  if (event_name == "push") return GitHubEventKind::kPush;
  if (event_name == "create") return GitHubEventKind::kCreate;
  if (event_name == "delete") return GitHubEventKind::kDelete;
  if (event_name == "repository") return GitHubEventKind::kRepository;
  return GitHubEventKind::kOther;
}

}  // namespace

std::string_view GitHubEventKindName(GitHubEventKind kind) {
  switch (kind) {
    case GitHubEventKind::kPing:
      return "ping";
    case GitHubEventKind::kPush:
      return "push";
    case GitHubEventKind::kCreate:
      return "create";
    case GitHubEventKind::kDelete:
      return "delete";
    case GitHubEventKind::kRepository:
      return "repository";
    case GitHubEventKind::kOther:
      break;
  }
  return "other";
}

bool TriggersSync(const GitHubEvent& event) {
  return event.kind == GitHubEventKind::kPush || event.kind == GitHubEventKind::kCreate ||
         event.kind == GitHubEventKind::kDelete;
}

Result<GitHubEvent> ParseGitHubEvent(std::string_view event_header,
                                     std::string_view delivery_header,
                                     std::string_view content_type, std::string_view body) {
  GitHubEvent event;
  std::string_view event_name = TrimSpaces(event_header);
  if (event_name.empty()) return InvalidArgument("missing X-GitHub-Event header");
  if (!IsValidEventName(event_name)) {
    return InvalidArgument("bad X-GitHub-Event header " + Quoted(event_name));
  }
  std::string_view delivery_id = TrimSpaces(delivery_header);
  if (delivery_id.empty()) return InvalidArgument("missing X-GitHub-Delivery header");
  if (!IsValidDeliveryId(delivery_id)) {
    return InvalidArgument("bad X-GitHub-Delivery header " + Quoted(delivery_id));
  }
  event.event_name = std::string(event_name);
  event.delivery_id = std::string(delivery_id);
  event.kind = KindOf(event_name);

  ASSIGN_OR_RETURN(BodyFormat format, BodyFormatOf(content_type));
  std::string form_payload;
  if (format == BodyFormat::kForm) {
    ASSIGN_OR_RETURN(form_payload, FormPayload(body));
    body = form_payload;
  }
  std::string context = event.event_name + " payload";
  Result<json::value> document = ParseJsonObject(body);
  if (!document.ok()) return document.error().WithContext(context);
  Members root(document->get_object(), "");

  Status status;
  switch (event.kind) {
    case GitHubEventKind::kPing:
      status = ParsePing(root, &event);
      break;
    case GitHubEventKind::kPush:
      status = ParsePush(root, &event);
      break;
    case GitHubEventKind::kCreate:
    case GitHubEventKind::kDelete:
      status = ParseCreateOrDelete(root, &event);
      break;
    case GitHubEventKind::kRepository:
      status = ParseRepositoryEvent(root, &event);
      break;
    case GitHubEventKind::kOther:
      ParseOther(root, &event);
      break;
  }
  if (!status.ok()) return status.WithContext(context);
  return event;
}

}  // namespace mirrord
