#include "webhook/github_event.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

using test::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kDelivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

// Payloads below keep GitHub's field names and types (octokit/webhooks payload examples,
// trimmed): in push payloads repository.pushed_at and created_at are Unix integers and
// repository.url is the web URL; elsewhere they are ISO 8601 strings and an API URL.

// A push that creates a branch: created, `before` all zeros.
constexpr std::string_view kPushNewBranch = R"json({
  "ref": "refs/heads/main",
  "before": "0000000000000000000000000000000000000000",
  "after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "repository": {
    "id": 186853002,
    "name": "Hello-World",
    "full_name": "Codertocat/Hello-World",
    "private": false,
    "owner": {"name": "Codertocat", "login": "Codertocat", "id": 21031067},
    "html_url": "https://github.com/Codertocat/Hello-World",
    "url": "https://github.com/Codertocat/Hello-World",
    "created_at": 1557933565,
    "updated_at": "2019-05-15T15:20:41Z",
    "pushed_at": 1557933657,
    "git_url": "git://github.com/Codertocat/Hello-World.git",
    "ssh_url": "git@github.com:Codertocat/Hello-World.git",
    "clone_url": "https://github.com/Codertocat/Hello-World.git",
    "svn_url": "https://github.com/Codertocat/Hello-World",
    "homepage": null,
    "default_branch": "main",
    "master_branch": "main"
  },
  "pusher": {"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com"},
  "sender": {"login": "Codertocat", "id": 21031067, "type": "User"},
  "created": true,
  "deleted": false,
  "forced": false,
  "base_ref": null,
  "compare": "https://github.com/Codertocat/Hello-World/commit/6113728f27ae",
  "commits": [{
    "id": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "tree_id": "31b122c26a97cf9af023e9ddab94a82c6e77b0ea",
    "distinct": true,
    "message": "Initial commit",
    "timestamp": "2019-05-15T15:19:25Z",
    "author": {"name": "Codertocat", "email": "21031067+Codertocat@users.noreply.github.com",
               "username": "Codertocat"},
    "added": ["README.md"], "removed": [], "modified": []
  }],
  "head_commit": {
    "id": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "tree_id": "31b122c26a97cf9af023e9ddab94a82c6e77b0ea",
    "distinct": true,
    "message": "Initial commit",
    "timestamp": "2019-05-15T15:19:25Z",
    "added": ["README.md"], "removed": [], "modified": []
  }
})json";

// A push to an existing branch of an organisation's repository, forced.
constexpr std::string_view kPushExistingBranch = R"json({
  "ref": "refs/heads/release/1.x",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "a10867b14bb761a232cd80139fbd4c0d33264240",
  "repository": {
    "id": 1296269, "name": "GLM-4", "full_name": "THUDM/GLM-4", "private": false,
    "html_url": "https://github.com/THUDM/GLM-4", "url": "https://github.com/THUDM/GLM-4",
    "created_at": 1700000000, "pushed_at": 1718000123,
    "git_url": "git://github.com/THUDM/GLM-4.git", "ssh_url": "git@github.com:THUDM/GLM-4.git",
    "clone_url": "https://github.com/THUDM/GLM-4.git", "default_branch": "main"
  },
  "organization": {"login": "THUDM", "id": 48590610},
  "created": false, "deleted": false, "forced": true, "base_ref": null,
  "commits": [{"id": "a10867b14bb761a232cd80139fbd4c0d33264240", "distinct": true,
               "message": "Update weights", "timestamp": "2024-06-10T08:15:20+08:00"}],
  "head_commit": {"id": "a10867b14bb761a232cd80139fbd4c0d33264240",
                  "message": "Update weights", "timestamp": "2024-06-10T08:15:20+08:00"}
})json";

// A push that deletes a branch: deleted, `after` all zeros, no head commit.
constexpr std::string_view kPushDeletedBranch = R"json({
  "ref": "refs/heads/old-experiment",
  "before": "a10867b14bb761a232cd80139fbd4c0d33264240",
  "after": "0000000000000000000000000000000000000000",
  "repository": {"id": 1296269, "name": "GLM-4", "full_name": "THUDM/GLM-4",
                 "clone_url": "https://github.com/THUDM/GLM-4.git", "pushed_at": 1718000456},
  "created": false, "deleted": true, "forced": false, "base_ref": null,
  "compare": "https://github.com/THUDM/GLM-4/compare/a10867b14bb7...000000000000",
  "commits": [], "head_commit": null
})json";

// A tag deleted: the delete event names it by its short name and ref_type.
constexpr std::string_view kDeleteTag = R"json({
  "ref": "simple-tag",
  "ref_type": "tag",
  "pusher_type": "user",
  "repository": {
    "id": 186853002, "name": "Hello-World", "full_name": "Codertocat/Hello-World",
    "html_url": "https://github.com/Codertocat/Hello-World",
    "url": "https://api.github.com/repos/Codertocat/Hello-World",
    "created_at": "2019-05-15T15:19:25Z", "pushed_at": "2019-05-15T15:20:57Z",
    "git_url": "git://github.com/Codertocat/Hello-World.git",
    "ssh_url": "git@github.com:Codertocat/Hello-World.git",
    "clone_url": "https://github.com/Codertocat/Hello-World.git"
  },
  "sender": {"login": "Codertocat", "id": 21031067}
})json";

constexpr std::string_view kCreateBranch = R"json({
  "ref": "feature/lfs-v2",
  "ref_type": "branch",
  "master_branch": "main",
  "description": null,
  "pusher_type": "user",
  "repository": {"id": 186853002, "name": "Hello-World", "full_name": "Codertocat/Hello-World",
                 "clone_url": "https://github.com/Codertocat/Hello-World.git",
                 "pushed_at": "2019-05-15T15:20:57Z"},
  "sender": {"login": "Codertocat", "id": 21031067}
})json";

// A repository webhook's ping: hook, hook_id, zen and the repository.
constexpr std::string_view kPingRepoHook = R"json({
  "zen": "Anything added dilutes everything else.",
  "hook_id": 109948940,
  "hook": {
    "type": "Repository", "id": 109948940, "name": "web", "active": true, "events": ["*"],
    "config": {"content_type": "json", "url": "https://mirror.lab/webhooks/github",
               "insecure_ssl": "0"},
    "updated_at": "2019-05-15T15:20:49Z", "created_at": "2019-05-15T15:20:49Z",
    "last_response": {"code": null, "status": "unused", "message": null}
  },
  "repository": {"id": 186853261, "name": "Hello-World", "full_name": "Octocoders/Hello-World",
                 "html_url": "https://github.com/Octocoders/Hello-World",
                 "url": "https://api.github.com/repos/Octocoders/Hello-World",
                 "clone_url": "https://github.com/Octocoders/Hello-World.git",
                 "pushed_at": "2019-05-15T15:20:33Z"},
  "sender": {"login": "Codertocat", "id": 21031067}
})json";

// An organisation webhook's ping: no repository.
constexpr std::string_view kPingOrgHook = R"json({
  "zen": "Design for failure.",
  "hook_id": 30,
  "hook": {"type": "Organization", "id": 30, "name": "web", "active": true,
           "events": ["push", "repository"], "config": {"content_type": "form", "url": "x"}},
  "organization": {"login": "Octocoders", "id": 38302899},
  "sender": {"login": "Codertocat", "id": 21031067}
})json";

constexpr std::string_view kRepositoryRenamed = R"json({
  "action": "renamed",
  "changes": {"repository": {"name": {"from": "Hello-World"}}},
  "repository": {"id": 186853261, "name": "Hello-Mirror", "full_name": "Octocoders/Hello-Mirror",
                 "html_url": "https://github.com/Octocoders/Hello-Mirror",
                 "url": "https://api.github.com/repos/Octocoders/Hello-Mirror",
                 "clone_url": "https://github.com/Octocoders/Hello-Mirror.git",
                 "archived": false, "visibility": "public"},
  "organization": {"login": "Octocoders", "id": 38302899},
  "sender": {"login": "Codertocat", "id": 21031067}
})json";

std::string RepositoryEvent(std::string_view action) {
  return R"json({"action": ")json" + std::string(action) + R"json(",
    "repository": {"id": 186853261, "name": "Hello-World", "full_name": "Octocoders/Hello-World",
                   "private": true, "archived": true,
                   "clone_url": "https://github.com/Octocoders/Hello-World.git"},
    "sender": {"login": "Codertocat", "id": 21031067}})json";
}

Result<GitHubEvent> Parse(std::string_view event, std::string_view body) {
  return ParseGitHubEvent(event, kDelivery, kJson, body);
}

// A copy of `text` with the first occurrence of `from` replaced by `to` (which must exist).
std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  size_t at = out.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) out.replace(at, from.size(), to);
  return out;
}

// Form-encodes `text` as the one field `payload`, the way GitHub does for
// application/x-www-form-urlencoded webhooks.
std::string FormBody(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "payload=";
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '*') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

TEST(GitHubEventTest, PushOfANewBranch) {
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("push", kPushNewBranch));
  EXPECT_EQ(e.kind, GitHubEventKind::kPush);
  EXPECT_EQ(e.event_name, "push");
  EXPECT_EQ(e.delivery_id, kDelivery);
  EXPECT_EQ(e.repo_full_name, "Codertocat/Hello-World");
  // html_url and url are the same web URL in push payloads: listed once.
  EXPECT_THAT(e.clone_urls, ElementsAre("https://github.com/Codertocat/Hello-World.git",
                                        "https://github.com/Codertocat/Hello-World",
                                        "git://github.com/Codertocat/Hello-World.git",
                                        "git@github.com:Codertocat/Hello-World.git"));
  EXPECT_EQ(e.ref, "refs/heads/main");
  EXPECT_EQ(e.before, std::string(40, '0'));
  EXPECT_EQ(e.after, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
  EXPECT_TRUE(e.created);
  EXPECT_FALSE(e.deleted);
  EXPECT_FALSE(e.forced);
  // repository.pushed_at (2019-05-15T15:20:57Z) wins over the commit's own time.
  EXPECT_EQ(e.pushed_at_unix, 1557933657);
  EXPECT_TRUE(e.action.empty());
  EXPECT_TRUE(TriggersSync(e));
}

TEST(GitHubEventTest, ForcedPushToAnExistingBranch) {
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("push", kPushExistingBranch));
  EXPECT_EQ(e.kind, GitHubEventKind::kPush);
  EXPECT_EQ(e.repo_full_name, "THUDM/GLM-4");
  EXPECT_EQ(e.ref, "refs/heads/release/1.x");
  EXPECT_EQ(e.before, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
  EXPECT_FALSE(e.created);
  EXPECT_FALSE(e.deleted);
  EXPECT_TRUE(e.forced);
  EXPECT_EQ(e.pushed_at_unix, 1718000123);
  EXPECT_TRUE(TriggersSync(e));
}

TEST(GitHubEventTest, PushFallsBackToTheHeadCommitTimestampWithItsOffset) {
  std::string body = Replace(kPushExistingBranch, R"("pushed_at": 1718000123)", R"("size": 0)");
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("push", body));
  // 2024-06-10T08:15:20+08:00 is 2024-06-10T00:15:20Z.
  EXPECT_EQ(e.pushed_at_unix, 1717978520);

  body = Replace(body, "2024-06-10T08:15:20+08:00\"}", "2024-06-09T19:15:20.123-05:00\"}");
  ASSERT_OK_AND_ASSIGN(e, Parse("push", body));
  EXPECT_EQ(e.pushed_at_unix, 1717978520);

  body = Replace(kPushDeletedBranch, R"(, "pushed_at": 1718000456)", "");
  ASSERT_OK_AND_ASSIGN(e, Parse("push", body));
  EXPECT_EQ(e.pushed_at_unix, std::nullopt);  // head_commit is null
}

TEST(GitHubEventTest, PushedAtMayBeAnIso8601String) {
  std::string body = Replace(kPushNewBranch, R"("pushed_at": 1557933657)",
                             R"("pushed_at": "2019-05-15T15:20:57Z")");
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("push", body));
  EXPECT_EQ(e.pushed_at_unix, 1557933657);
  body = Replace(kPushNewBranch, R"("pushed_at": 1557933657)",
                 R"("pushed_at": "2024-02-29T23:59:60Z")");  // leap day, leap second
  ASSERT_OK_AND_ASSIGN(e, Parse("push", body));
  EXPECT_EQ(e.pushed_at_unix, 1709251200);
}

TEST(GitHubEventTest, PushThatDeletesABranch) {
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("push", kPushDeletedBranch));
  EXPECT_EQ(e.kind, GitHubEventKind::kPush);
  EXPECT_EQ(e.ref, "refs/heads/old-experiment");
  EXPECT_TRUE(e.deleted);
  EXPECT_FALSE(e.created);
  EXPECT_EQ(e.after, std::string(40, '0'));
  EXPECT_EQ(e.pushed_at_unix, 1718000456);
  EXPECT_THAT(e.clone_urls, ElementsAre("https://github.com/THUDM/GLM-4.git"));
  EXPECT_TRUE(TriggersSync(e));
}

TEST(GitHubEventTest, PushOfATagAndSha256ObjectIds) {
  std::string body = Replace(kPushNewBranch, "refs/heads/main", "refs/tags/v1.0");
  body = Replace(body, R"("after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246")",
                 R"("after": ")" + std::string(64, 'a') + "\"");
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("push", body));
  EXPECT_EQ(e.ref, "refs/tags/v1.0");
  EXPECT_EQ(e.after, std::string(64, 'a'));
}

TEST(GitHubEventTest, DeleteEventOfATagGivesTheFullRefName) {
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("delete", kDeleteTag));
  EXPECT_EQ(e.kind, GitHubEventKind::kDelete);
  EXPECT_EQ(e.repo_full_name, "Codertocat/Hello-World");
  EXPECT_EQ(e.ref_type, "tag");
  EXPECT_EQ(e.ref, "refs/tags/simple-tag");
  EXPECT_THAT(e.clone_urls, ElementsAre("https://github.com/Codertocat/Hello-World.git",
                                        "https://github.com/Codertocat/Hello-World",
                                        "git://github.com/Codertocat/Hello-World.git",
                                        "git@github.com:Codertocat/Hello-World.git",
                                        "https://api.github.com/repos/Codertocat/Hello-World"));
  EXPECT_EQ(e.pushed_at_unix, std::nullopt);  // only push payloads carry the push time
  EXPECT_TRUE(TriggersSync(e));

  ASSERT_OK_AND_ASSIGN(
      e, Parse("delete", Replace(kDeleteTag, R"("ref_type": "tag")", R"("ref_type": "branch")")));
  EXPECT_EQ(e.ref, "refs/heads/simple-tag");
}

TEST(GitHubEventTest, CreateEventOfABranch) {
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("create", kCreateBranch));
  EXPECT_EQ(e.kind, GitHubEventKind::kCreate);
  EXPECT_EQ(e.ref_type, "branch");
  EXPECT_EQ(e.ref, "refs/heads/feature/lfs-v2");
  EXPECT_TRUE(TriggersSync(e));
}

TEST(GitHubEventTest, CreateEventOfTheRepositoryHasNoRef) {
  std::string body = Replace(kCreateBranch, R"("ref": "feature/lfs-v2")", R"("ref": null)");
  body = Replace(body, R"("ref_type": "branch")", R"("ref_type": "repository")");
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("create", body));
  EXPECT_EQ(e.ref_type, "repository");
  EXPECT_EQ(e.ref, "");
  EXPECT_EQ(e.repo_full_name, "Codertocat/Hello-World");
}

TEST(GitHubEventTest, PingFromARepositoryHook) {
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("ping", kPingRepoHook));
  EXPECT_EQ(e.kind, GitHubEventKind::kPing);
  EXPECT_EQ(e.repo_full_name, "Octocoders/Hello-World");
  EXPECT_EQ(e.hook_id, 109948940);
  EXPECT_EQ(e.zen, "Anything added dilutes everything else.");
  EXPECT_FALSE(TriggersSync(e));
}

TEST(GitHubEventTest, PingFromAnOrganisationHookHasNoRepository) {
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("ping", kPingOrgHook));
  EXPECT_EQ(e.kind, GitHubEventKind::kPing);
  EXPECT_EQ(e.repo_full_name, "");
  EXPECT_TRUE(e.clone_urls.empty());
  EXPECT_EQ(e.hook_id, 30);
  EXPECT_EQ(e.zen, "Design for failure.");
}

TEST(GitHubEventTest, PingZenIsEscapedAndBounded) {
  std::string body = R"({"zen": "a\u0007b)" + std::string(500, 'z') + R"(", "hook_id": 1})";
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("ping", body));
  EXPECT_THAT(e.zen, HasSubstr("a\\x07b"));
  EXPECT_LE(e.zen.size(), 210u);
}

TEST(GitHubEventTest, RepositoryRenamed) {
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("repository", kRepositoryRenamed));
  EXPECT_EQ(e.kind, GitHubEventKind::kRepository);
  EXPECT_EQ(e.action, "renamed");
  EXPECT_EQ(e.repo_full_name, "Octocoders/Hello-Mirror");
  EXPECT_EQ(e.new_full_name, "Octocoders/Hello-Mirror");
  EXPECT_EQ(e.old_name, "Hello-World");
  EXPECT_EQ(e.old_full_name, "Octocoders/Hello-World");
  EXPECT_TRUE(e.ref.empty());
  EXPECT_FALSE(TriggersSync(e));
}

TEST(GitHubEventTest, RepositoryArchivedDeletedPrivatizedAreRecordedNotSynced) {
  for (std::string_view action : {"archived", "deleted", "privatized", "unarchived", "edited"}) {
    ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("repository", RepositoryEvent(action)));
    EXPECT_EQ(e.kind, GitHubEventKind::kRepository);
    EXPECT_EQ(e.action, action);
    EXPECT_EQ(e.repo_full_name, "Octocoders/Hello-World");
    EXPECT_TRUE(e.new_full_name.empty());
    EXPECT_TRUE(e.old_full_name.empty());
    EXPECT_FALSE(TriggersSync(e)) << action;
  }
}

TEST(GitHubEventTest, RepositoryTransferredNamesThePreviousOwner) {
  std::string body = Replace(RepositoryEvent("transferred"), R"("sender")",
                             R"("changes": {"owner": {"from": {"user": {"login": "octocat",
                                "id": 1, "type": "User"}}}}, "sender")");
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("repository", body));
  EXPECT_EQ(e.action, "transferred");
  EXPECT_EQ(e.new_full_name, "Octocoders/Hello-World");
  EXPECT_EQ(e.old_full_name, "octocat/Hello-World");

  body = Replace(RepositoryEvent("transferred"), R"("sender")",
                 R"("changes": {"owner": {"from": {"organization": {"login": "OldOrg"}}}},
                    "sender")");
  ASSERT_OK_AND_ASSIGN(e, Parse("repository", body));
  EXPECT_EQ(e.old_full_name, "OldOrg/Hello-World");

  ASSERT_OK_AND_ASSIGN(e, Parse("repository", RepositoryEvent("transferred")));
  EXPECT_EQ(e.new_full_name, "Octocoders/Hello-World");
  EXPECT_EQ(e.old_full_name, "");
}

TEST(GitHubEventTest, UnknownEventsAreOtherWithTheRepositoryWhenWellFormed) {
  std::string issues = R"json({"action": "opened", "issue": {"number": 1, "title": "hi"},
    "repository": {"full_name": "Codertocat/Hello-World",
                   "clone_url": "https://github.com/Codertocat/Hello-World.git"}})json";
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("issues", issues));
  EXPECT_EQ(e.kind, GitHubEventKind::kOther);
  EXPECT_EQ(e.event_name, "issues");
  EXPECT_EQ(e.repo_full_name, "Codertocat/Hello-World");
  EXPECT_EQ(e.action, "");
  EXPECT_FALSE(TriggersSync(e));

  ASSERT_OK_AND_ASSIGN(e, Parse("pull_request_review_comment",
                                R"({"repository": {"full_name": 12, "clone_url": "x"}})"));
  EXPECT_EQ(e.kind, GitHubEventKind::kOther);
  EXPECT_EQ(e.repo_full_name, "");
  EXPECT_TRUE(e.clone_urls.empty());

  ASSERT_OK_AND_ASSIGN(e, Parse("star", "{}"));
  EXPECT_EQ(e.kind, GitHubEventKind::kOther);
  // Names are matched exactly: GitHub sends them lower-case.
  ASSERT_OK_AND_ASSIGN(e, Parse("Push", kPushNewBranch));
  EXPECT_EQ(e.kind, GitHubEventKind::kOther);

  EXPECT_THAT(Parse("issues", "{not json"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Parse("issues", "[1, 2]"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(GitHubEventTest, FormEncodedPayloadsParseLikeJson) {
  constexpr std::string_view kForm = "application/x-www-form-urlencoded";
  for (auto [name, body] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"push", kPushNewBranch},
           {"delete", kDeleteTag},
           {"ping", kPingRepoHook},
           {"repository", kRepositoryRenamed}}) {
    ASSERT_OK_AND_ASSIGN(GitHubEvent from_json, Parse(name, body));
    ASSERT_OK_AND_ASSIGN(GitHubEvent from_form,
                         ParseGitHubEvent(name, kDelivery, kForm, FormBody(body)));
    EXPECT_EQ(from_form.kind, from_json.kind);
    EXPECT_EQ(from_form.repo_full_name, from_json.repo_full_name);
    EXPECT_EQ(from_form.clone_urls, from_json.clone_urls);
    EXPECT_EQ(from_form.ref, from_json.ref);
    EXPECT_EQ(from_form.pushed_at_unix, from_json.pushed_at_unix);
    EXPECT_EQ(from_form.zen, from_json.zen);
    EXPECT_EQ(from_form.old_full_name, from_json.old_full_name);
  }
  // Other fields around `payload` are ignored; the content type is case-insensitive and
  // its parameters are ignored.
  ASSERT_OK_AND_ASSIGN(
      GitHubEvent e,
      ParseGitHubEvent("create", kDelivery, "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
                       "a=1&" + FormBody(kCreateBranch) + "&b"));
  EXPECT_EQ(e.ref, "refs/heads/feature/lfs-v2");
}

TEST(GitHubEventTest, FormBodiesWithoutAPayloadOrWithBadEscapesAreRejected) {
  constexpr std::string_view kForm = "application/x-www-form-urlencoded";
  Result<GitHubEvent> r = ParseGitHubEvent("push", kDelivery, kForm, "");
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(r.error().message(), HasSubstr("application/json"));
  EXPECT_THAT(ParseGitHubEvent("push", kDelivery, kForm, "payloads=%7B%7D"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseGitHubEvent("push", kDelivery, kForm, "payload=%7B%7D&payload=%7B%7D"),
              StatusIs(StatusCode::kInvalidArgument));
  for (std::string_view bad : {"payload=%7B%7", "payload=%7B%GG%7D", "payload=%", "payload=%7"}) {
    r = ParseGitHubEvent("star", kDelivery, kForm, bad);
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << bad;
    EXPECT_THAT(r.error().message(), HasSubstr("percent escape")) << bad;
  }
  // A JSON body sent with the form content type has no payload field.
  EXPECT_THAT(ParseGitHubEvent("push", kDelivery, kForm, kPushNewBranch),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(GitHubEventTest, ContentTypes) {
  EXPECT_OK(ParseGitHubEvent("push", kDelivery, "application/json; charset=utf-8", kPushNewBranch));
  EXPECT_OK(ParseGitHubEvent("push", kDelivery, " APPLICATION/JSON ", kPushNewBranch));
  EXPECT_OK(ParseGitHubEvent("push", kDelivery, "", kPushNewBranch));
  for (std::string_view type : {"text/plain", "application/xml", "multipart/form-data; b=x",
                                "application/jsonx", "application/json-seq"}) {
    Result<GitHubEvent> r = ParseGitHubEvent("push", kDelivery, type, kPushNewBranch);
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << type;
    EXPECT_THAT(r.error().message(),
                HasSubstr("set the webhook's content type to application/json"));
  }
}

TEST(GitHubEventTest, HeaderValuesAreValidated) {
  EXPECT_THAT(ParseGitHubEvent("", kDelivery, kJson, "{}"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseGitHubEvent("push", "", kJson, "{}"), StatusIs(StatusCode::kInvalidArgument));
  for (std::string_view bad : {"pu sh", "push\n", "push/../x", "p\xc3\xbcsh", "ping;rm"}) {
    Result<GitHubEvent> r = ParseGitHubEvent(bad, kDelivery, kJson, "{}");
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << bad;
    EXPECT_THAT(r.error().message(), HasSubstr("X-GitHub-Event"));
  }
  std::string longest_name(kMaxGitHubEventNameLength, 'a');
  EXPECT_OK(ParseGitHubEvent(longest_name, kDelivery, kJson, "{}"));
  EXPECT_THAT(ParseGitHubEvent(longest_name + "a", kDelivery, kJson, "{}"),
              StatusIs(StatusCode::kInvalidArgument));

  std::string longest_id(kMaxGitHubDeliveryIdLength, '7');
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, ParseGitHubEvent("star", longest_id, kJson, "{}"));
  EXPECT_EQ(e.delivery_id, longest_id);
  ASSERT_OK_AND_ASSIGN(e, ParseGitHubEvent(" star ", " 1-2-3\t", kJson, "{}"));
  EXPECT_EQ(e.event_name, "star");
  EXPECT_EQ(e.delivery_id, "1-2-3");
  EXPECT_THAT(ParseGitHubEvent("star", longest_id + "7", kJson, "{}"),
              StatusIs(StatusCode::kInvalidArgument));
  Result<GitHubEvent> r = ParseGitHubEvent("star",
                                           "abc\x01"
                                           "def",
                                           kJson, "{}");
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(r.error().message(), HasSubstr("abc\\x01def"));  // escaped, never raw
  EXPECT_THAT(ParseGitHubEvent("star", "a b", kJson, "{}"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(GitHubEventTest, MalformedJsonIsRejected) {
  for (std::string_view body : {"", "   ", "{", R"({"ref": )", "null", "\"push\"", "42", "[]",
                                R"({"a": 1,})", R"({"a": 1} {"b": 2})", "{/* c */}"}) {
    for (std::string_view name : {"push", "ping", "repository", "issues"}) {
      Result<GitHubEvent> r = Parse(name, body);
      EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << name << " " << body;
      EXPECT_THAT(r.error().message(), HasSubstr(std::string(name) + " payload: body"));
    }
  }
  // Invalid UTF-8 inside a string.
  EXPECT_THAT(Parse("issues", "{\"a\": \"\xff\"}"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(GitHubEventTest, NestingIsBounded) {
  auto nested = [](size_t depth) {
    return "{\"a\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
  };
  EXPECT_OK(Parse("issues", nested(kMaxGitHubPayloadDepth)));
  Result<GitHubEvent> r = Parse("issues", nested(kMaxGitHubPayloadDepth + 1));
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Parse("push", nested(100000)), StatusIs(StatusCode::kInvalidArgument));
}

TEST(GitHubEventTest, MissingRepositoryIsRejectedWhereItIsNeeded) {
  struct Case {
    std::string_view event;
    std::string body;
  };
  std::vector<Case> cases = {
      {"push",
       R"({"ref": "refs/heads/main", "after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"})"},
      {"push", Replace(kPushNewBranch, R"("repository": {)", R"("repository": null, "x": {)")},
      {"create", R"({"ref": "v1", "ref_type": "tag"})"},
      {"delete", R"({"ref": "v1", "ref_type": "tag", "repository": null})"},
      {"repository", R"({"action": "deleted"})"},
  };
  for (const Case& c : cases) {
    Result<GitHubEvent> r = Parse(c.event, c.body);
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << c.body;
    EXPECT_EQ(r.error().message(), std::string(c.event) + " payload: repository: missing");
  }
  Result<GitHubEvent> r =
      Parse("push", Replace(kPushNewBranch, R"("full_name": "Codertocat/Hello-World",)", ""));
  EXPECT_EQ(r.error().message(), "push payload: repository.full_name: missing");
}

TEST(GitHubEventTest, WrongTypesAreRejectedWithThePath) {
  struct Case {
    std::string_view event;
    std::string body;
    std::string_view path;
  };
  std::vector<Case> cases = {
      {"push", Replace(kPushNewBranch, R"("repository": {)", R"("repository": "x", "y": {)"),
       "repository: expected an object"},
      {"push",
       Replace(kPushNewBranch, R"("full_name": "Codertocat/Hello-World")", R"("full_name": 7)"),
       "repository.full_name: expected a string"},
      {"push",
       Replace(kPushNewBranch, R"("ref": "refs/heads/main")", R"("ref": ["refs/heads/main"])"),
       "ref: expected a string"},
      {"push", Replace(kPushNewBranch, R"("deleted": false)", R"("deleted": "false")"),
       "deleted: expected true or false"},
      {"push", Replace(kPushNewBranch, R"("created": true)", R"("created": 1)"),
       "created: expected true or false"},
      {"push",
       Replace(kPushNewBranch, R"("pushed_at": 1557933657)", R"("pushed_at": 1557933657.5)"),
       "repository.pushed_at: expected a non-negative integer"},
      {"push", Replace(kPushNewBranch, R"("pushed_at": 1557933657)", R"("pushed_at": true)"),
       "repository.pushed_at: expected a non-negative integer"},
      {"push", Replace(kPushNewBranch, R"("pushed_at": 1557933657)", R"("pushed_at": -1)"),
       "repository.pushed_at: out of range"},
      {"push",
       Replace(kPushNewBranch, R"("pushed_at": 1557933657)", R"("pushed_at": 99999999999999)"),
       "repository.pushed_at: out of range"},
      {"push",
       Replace(kPushNewBranch, R"("pushed_at": 1557933657)",
               R"("pushed_at": 18446744073709551615)"),
       "repository.pushed_at: out of range"},
      {"push", Replace(kPushNewBranch, R"("pushed_at": 1557933657)", R"("pushed_at": "yesterday")"),
       "repository.pushed_at: not an ISO 8601 date-time"},
      {"push",
       Replace(kPushNewBranch, R"("pushed_at": 1557933657)",
               R"("pushed_at": "2023-02-29T00:00:00Z")"),
       "repository.pushed_at: not an ISO 8601 date-time"},
      {"push",
       Replace(kPushNewBranch, R"("clone_url": "https://github.com/Codertocat/Hello-World.git")",
               R"("clone_url": {"href": "x"})"),
       "repository.clone_url: expected a string"},
      {"push", Replace(kPushNewBranch, R"("head_commit": {)", R"("head_commit": [], "x": {)"),
       "head_commit: expected an object"},
      {"push",
       Replace(kPushNewBranch, R"("timestamp": "2019-05-15T15:19:25Z",
    "added")",
               R"("timestamp": 1557933565, "added")"),
       "head_commit.timestamp: expected a string"},
      {"create", Replace(kCreateBranch, R"("ref_type": "branch")", R"("ref_type": 1)"),
       "ref_type: expected a string"},
      {"create", Replace(kCreateBranch, R"("ref": "feature/lfs-v2")", R"("ref": null)"),
       "ref: missing"},
      {"ping", Replace(kPingRepoHook, R"("hook_id": 109948940)", R"("hook_id": "109948940")"),
       "hook_id: expected a non-negative integer"},
      {"ping",
       Replace(kPingRepoHook, R"("zen": "Anything added dilutes everything else.")", R"("zen": 0)"),
       "zen: expected a string"},
      {"repository", Replace(kRepositoryRenamed, R"("action": "renamed")", R"("action": null)"),
       "action: missing"},
      {"repository", Replace(kRepositoryRenamed, R"("from": "Hello-World")", R"("from": ["a"])"),
       "changes.repository.name.from: expected a string"},
      {"repository",
       Replace(kRepositoryRenamed,
               R"("changes": {"repository": {"name": {"from": "Hello-World"}}},)", ""),
       "changes: missing"},
      {"repository", Replace(kRepositoryRenamed, R"({"name": {"from": "Hello-World"}})", "{}"),
       "changes.repository.name: missing"},
  };
  for (const Case& c : cases) {
    Result<GitHubEvent> r = Parse(c.event, c.body);
    ASSERT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << c.path;
    EXPECT_THAT(r.error().message(),
                HasSubstr(std::string(c.event) + " payload: " + std::string(c.path)));
  }
}

TEST(GitHubEventTest, MalformedNamesRefsUrlsAndIdsAreRejected) {
  struct Case {
    std::string_view event;
    std::string_view from;
    std::string to;
  };
  std::string full_name = R"("full_name": "Codertocat/Hello-World")";
  std::vector<Case> cases = {
      {"push", full_name, R"("full_name": "Hello-World")"},
      {"push", full_name, R"("full_name": "a/b/c")"},
      {"push", full_name, R"("full_name": "/Hello-World")"},
      {"push", full_name, R"("full_name": "Codertocat/")"},
      {"push", full_name, R"("full_name": "../etc")"},
      {"push", full_name, R"("full_name": "Codertocat/..")"},
      {"push", full_name, R"("full_name": "Coder tocat/x")"},
      {"push", full_name, R"("full_name": "Codertocat/x\u0000")"},
      {"push", full_name, R"("full_name": "Codertocat/)" + std::string(101, 'x') + "\""},
      {"push", R"("ref": "refs/heads/main")", R"("ref": "main")"},
      {"push", R"("ref": "refs/heads/main")", R"("ref": "")"},
      {"push", R"("ref": "refs/heads/main")", R"("ref": "refs/heads/ma\nin")"},
      {"push", R"("ref": "refs/heads/main")",
       R"("ref": "refs/heads/)" + std::string(1100, 'x') + "\""},
      {"push", R"("before": "0000000000000000000000000000000000000000")", R"("before": "0000")"},
      {"push", R"("before": "0000000000000000000000000000000000000000")",
       R"("before": "6113728F27AE82C7B1A177C8D03F9E96E0ADF246")"},
      {"push", R"("git_url": "git://github.com/Codertocat/Hello-World.git")",
       R"("git_url": "git://a b")"},
      {"delete", R"("ref": "simple-tag")", R"("ref": "")"},
      {"delete", R"("ref": "simple-tag")", R"("ref": "bad\ttag")"},
      {"repository", R"("action": "renamed")", R"("action": "re named")"},
      {"repository", R"("from": "Hello-World")", R"("from": "a/b")"},
  };
  for (const Case& c : cases) {
    std::string_view base = c.event == "push"     ? kPushNewBranch
                            : c.event == "delete" ? kDeleteTag
                                                  : kRepositoryRenamed;
    Result<GitHubEvent> r = Parse(c.event, Replace(base, c.from, c.to));
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << c.to;
    // Untrusted text is quoted escaped and bounded.
    EXPECT_THAT(r.error().message(), Not(HasSubstr("\n"))) << c.to;
    EXPECT_THAT(r.error().message(), Not(HasSubstr("\t"))) << c.to;
    EXPECT_LT(r.error().message().size(), 200u) << c.to;
  }
  // Names GitHub does allow.
  for (std::string_view name : {".github/.github", "a/b", "Org-1/my_repo.v2", "_x/-y"}) {
    ASSERT_OK_AND_ASSIGN(GitHubEvent e,
                         Parse("push", Replace(kPushNewBranch, full_name,
                                               R"("full_name": ")" + std::string(name) + "\"")));
    EXPECT_EQ(e.repo_full_name, name);
  }
  // Git allows non-ASCII ref names; they pass through unchanged.
  ASSERT_OK_AND_ASSIGN(GitHubEvent e,
                       Parse("push", Replace(kPushNewBranch, "refs/heads/main",
                                             "refs/heads/\xe6\xa8\xa1\xe5\x9e\x8b")));
  EXPECT_EQ(e.ref, "refs/heads/\xe6\xa8\xa1\xe5\x9e\x8b");
}

TEST(GitHubEventTest, NullMembersReadAsAbsent) {
  std::string body =
      Replace(kPushNewBranch, R"("ssh_url": "git@github.com:Codertocat/Hello-World.git")",
              R"("ssh_url": null)");
  body = Replace(body, R"("created": true)", R"("created": null)");
  ASSERT_OK_AND_ASSIGN(GitHubEvent e, Parse("push", body));
  EXPECT_FALSE(e.created);
  EXPECT_EQ(e.clone_urls.size(), 3u);
}

TEST(GitHubEventTest, KindNames) {
  EXPECT_EQ(GitHubEventKindName(GitHubEventKind::kPing), "ping");
  EXPECT_EQ(GitHubEventKindName(GitHubEventKind::kPush), "push");
  EXPECT_EQ(GitHubEventKindName(GitHubEventKind::kCreate), "create");
  EXPECT_EQ(GitHubEventKindName(GitHubEventKind::kDelete), "delete");
  EXPECT_EQ(GitHubEventKindName(GitHubEventKind::kRepository), "repository");
  EXPECT_EQ(GitHubEventKindName(GitHubEventKind::kOther), "other");
}

}  // namespace
}  // namespace mirrord
