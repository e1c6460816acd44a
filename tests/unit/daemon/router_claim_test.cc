// Router::AddClaim: claimed paths come after exact and prefix routes and before the
// repository fallback (which would otherwise read "/org/m/resolve/main/x" as a repo name).
#include <gtest/gtest.h>

#include <string>

#include "daemon/router.h"

namespace mirrord {
namespace {

boost::asio::awaitable<void> Noop(HttpExchange&) { co_return; }

TEST(RouterClaimTest, ClaimsComeBetweenPrefixesAndTheRepoFallback) {
  Router router;
  int repo_calls = 0;
  router.Add(http::verb::get, "/healthz", Noop);
  router.AddPrefix({http::verb::get}, "/api/", Noop);
  router.AddClaim(
      {http::verb::get}, [](std::string_view p) { return p.find("/resolve/") != p.npos; }, Noop);
  router.SetRepoHandler(
      [&repo_calls](HttpExchange&, const RepoPath&) -> boost::asio::awaitable<void> {
        ++repo_calls;
        co_return;
      });
  // Claimed: a handler that reads the body, not a 400 for an invalid repository name.
  RouteMatch m = router.Match(http::verb::get, "/org/m/resolve/main/a b.txt");
  EXPECT_TRUE(m.read_body);
  // HEAD falls back to the claim's GET; other methods are 405.
  EXPECT_TRUE(router.Match(http::verb::head, "/org/m/resolve/main/a").read_body);
  EXPECT_FALSE(router.Match(http::verb::post, "/org/m/resolve/main/a").read_body);
  // Exact and prefix routes still win.
  EXPECT_TRUE(router.Match(http::verb::get, "/api/resolve/x").read_body);
  // Unclaimed paths reach the repository fallback as before.
  EXPECT_TRUE(router.Match(http::verb::get, "/org/m.git/info/refs").read_body);
  EXPECT_FALSE(router.Match(http::verb::get, "//etc/passwd").read_body);  // 400
}

}  // namespace
}  // namespace mirrord
