// Rewriting of the upload-pack negotiation requests libgit2 sends, so that a fetch into an
// existing mirror downloads only what is new.
//
// Why: libgit2 1.5 (git_smart__negotiate_fetch) walks every local ref and sends its "have"
// lines in batches of 20, starting with the OLDEST-dated tip's ancestry, and stops at the
// first batch in which the upstream recognises anything. It then ends the negotiation
// ("done") with only those haves, so the upstream packs everything not reachable from that
// old branch: in a mirror with an old side branch, every incremental fetch re-downloads
// nearly the whole history. Git's own client avoids this by starting from the newest tips.
// mirrord sends the tips of all its refs as extra haves in the final request instead: the
// upstream then excludes everything reachable from any of them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mirrord {

// At most this many extra haves are added (heads come first; see CollectLocalTips). Beyond it
// the request would grow past what upstream servers comfortably accept.
inline constexpr size_t kMaxExtraHaves = 10000;

// `body` with one "have <oid>" pkt-line per entry of `haves` inserted just before its final
// "done" pkt-line, when `body` is a well-formed sequence of pkt-lines ending in "done" (the
// last request of a stateless negotiation). Any other body (an intermediate round, a body
// that does not parse as pkt-lines) is returned unchanged. Entries that are not 40 lower-case
// hex digits are skipped.
std::string WithExtraHaves(std::string_view body, const std::vector<std::string>& haves);

}  // namespace mirrord
