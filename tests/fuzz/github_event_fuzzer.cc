// Fuzz target for ParseGitHubEvent: the input is a webhook body, parsed as each event kind
// mirrord acts on (and one it does not), as JSON and form-encoded. Invariants checked:
//  - the parser never crashes, throws or reports OK with out-of-contract members: event
//    and delivery names, repository names, refs, object ids, URLs and times within the
//    bounds github_event.h documents, and members of other kinds left empty;
//  - the same JSON sent form-encoded (payload=<percent-encoded>) parses to the same event,
//    or fails with the same message;
//  - header values that parse are within their documented character sets and lengths.
// Built with -fsanitize=fuzzer under clang (MIRRORD_FUZZ=ON); otherwise fuzz_replay.cc
// drives it over the seed corpus plus seeded random inputs as a ctest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "webhook/github_event.h"

namespace {

using mirrord::GitHubEvent;
using mirrord::GitHubEventKind;

void Check(bool condition) {
  if (!condition) std::abort();
}

constexpr std::string_view kDelivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool IsValidSegment(std::string_view s) {
  if (s.empty() || s.size() > 100 || s == "." || s == "..") return false;
  for (char c : s) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

bool IsValidFullName(std::string_view s) {
  size_t slash = s.find('/');
  return slash != std::string_view::npos && IsValidSegment(s.substr(0, slash)) &&
         IsValidSegment(s.substr(slash + 1));
}

bool IsVisibleAscii(std::string_view s) {
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

bool IsValidRef(std::string_view s) {
  if (s.empty() || s.size() > mirrord::kMaxGitHubRefLength) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool IsEmptyOrObjectId(std::string_view s) {
  if (s.empty()) return true;
  if (s.size() != 40 && s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void CheckEvent(const GitHubEvent& e, std::string_view event_name) {
  Check(e.event_name == event_name);
  Check(e.delivery_id == kDelivery);
  Check(mirrord::GitHubEventKindName(e.kind) == event_name ||
        (e.kind == GitHubEventKind::kOther && mirrord::GitHubEventKindName(e.kind) == "other"));
  Check(e.repo_full_name.empty() || IsValidFullName(e.repo_full_name));
  Check(e.clone_urls.size() <= 5);
  for (size_t i = 0; i < e.clone_urls.size(); ++i) {
    const std::string& url = e.clone_urls[i];
    Check(!url.empty() && url.size() <= mirrord::kMaxGitHubUrlLength && IsVisibleAscii(url));
    for (size_t j = 0; j < i; ++j) Check(e.clone_urls[j] != url);
  }
  if (e.repo_full_name.empty()) Check(e.clone_urls.empty());
  Check(e.zen.size() <= 4 * 200 + 3);
  for (char c : e.zen) Check(c >= 0x20 && c < 0x7f);
  Check(mirrord::TriggersSync(e) ==
        (e.kind == GitHubEventKind::kPush || e.kind == GitHubEventKind::kCreate ||
         e.kind == GitHubEventKind::kDelete));

  bool push = e.kind == GitHubEventKind::kPush;
  bool create_or_delete = e.kind == GitHubEventKind::kCreate || e.kind == GitHubEventKind::kDelete;
  bool repository = e.kind == GitHubEventKind::kRepository;
  if (push || create_or_delete || repository) Check(!e.repo_full_name.empty());
  if (push) {
    Check(IsValidRef(e.ref) && e.ref.compare(0, 5, "refs/") == 0);
  } else if (create_or_delete) {
    if (e.ref_type == "branch") {
      Check(IsValidRef(e.ref) && e.ref.compare(0, 11, "refs/heads/") == 0 && e.ref.size() > 11);
    } else if (e.ref_type == "tag") {
      Check(IsValidRef(e.ref) && e.ref.compare(0, 10, "refs/tags/") == 0 && e.ref.size() > 10);
    } else {
      Check(!e.ref_type.empty() && e.ref.empty());
    }
  } else {
    Check(e.ref.empty() && e.ref_type.empty());
  }
  if (!push) {
    Check(e.before.empty() && e.after.empty() && !e.created && !e.deleted && !e.forced);
    Check(!e.pushed_at_unix.has_value());
  }
  Check(IsEmptyOrObjectId(e.before) && IsEmptyOrObjectId(e.after));
  if (e.pushed_at_unix) Check(*e.pushed_at_unix >= 0 && *e.pushed_at_unix <= 253402300799);

  if (repository) {
    Check(!e.action.empty() && e.action.size() <= 64);
    if (e.action == "renamed") {
      Check(e.new_full_name == e.repo_full_name && IsValidSegment(e.old_name) &&
            IsValidFullName(e.old_full_name));
    } else if (e.action == "transferred") {
      Check(e.new_full_name == e.repo_full_name && e.old_name.empty());
      Check(e.old_full_name.empty() || IsValidFullName(e.old_full_name));
    } else {
      Check(e.new_full_name.empty() && e.old_name.empty() && e.old_full_name.empty());
    }
  } else {
    Check(e.action.empty() && e.new_full_name.empty() && e.old_name.empty() &&
          e.old_full_name.empty());
  }
  if (e.kind != GitHubEventKind::kPing) Check(!e.hook_id.has_value() && e.zen.empty());
}

bool SameEvent(const GitHubEvent& a, const GitHubEvent& b) {
  return a.kind == b.kind && a.event_name == b.event_name && a.delivery_id == b.delivery_id &&
         a.repo_full_name == b.repo_full_name && a.clone_urls == b.clone_urls && a.ref == b.ref &&
         a.ref_type == b.ref_type && a.before == b.before && a.after == b.after &&
         a.created == b.created && a.deleted == b.deleted && a.forced == b.forced &&
         a.pushed_at_unix == b.pushed_at_unix && a.action == b.action &&
         a.new_full_name == b.new_full_name && a.old_name == b.old_name &&
         a.old_full_name == b.old_full_name && a.hook_id == b.hook_id && a.zen == b.zen;
}

std::string FormEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "payload=";
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kJson = "application/json";
  constexpr std::string_view kForm = "application/x-www-form-urlencoded";

  const std::string form = FormEncode(input);
  for (std::string_view name : {"ping", "push", "create", "delete", "repository", "issues"}) {
    auto json_event = mirrord::ParseGitHubEvent(name, kDelivery, kJson, input);
    if (json_event.ok()) CheckEvent(*json_event, name);
    auto form_event = mirrord::ParseGitHubEvent(name, kDelivery, kForm, form);
    Check(form_event.ok() == json_event.ok());
    if (json_event.ok()) {
      Check(SameEvent(*json_event, *form_event));
    } else {
      Check(json_event.error() == form_event.error());
    }
  }

  // The input as a raw form body.
  if (auto e = mirrord::ParseGitHubEvent("push", kDelivery, kForm, input); e.ok()) {
    CheckEvent(*e, "push");
  }

  // The input as header values.
  std::string_view head = input.substr(0, 128);
  if (auto e = mirrord::ParseGitHubEvent(head, head, kJson, "{}"); e.ok()) {
    Check(!e->event_name.empty() && e->event_name.size() <= mirrord::kMaxGitHubEventNameLength);
    for (char c : e->event_name) Check(IsNameChar(c));
    Check(!e->delivery_id.empty() && e->delivery_id.size() <= mirrord::kMaxGitHubDeliveryIdLength &&
          IsVisibleAscii(e->delivery_id));
  }
  return 0;
}
