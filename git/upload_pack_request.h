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

// Checks, as it streams past, that a client's upload-pack request body is shaped like one:
// a sequence of pkt-lines (4 hex digits of length, 0000/0001/0002 special, otherwise 4 to
// 65520 bytes) whose first data line starts with "want " (protocol v0/v1) or "command="
// (protocol v2). Garbage is then answered 400 by the server instead of being handed to
// git, whose failure would look like a server error. It does not validate the request's
// meaning: git does. Memory: a few bytes, whatever the body size.
// Thread-safety: none; one per request.
class UploadPackRequestShape {
 public:
  // Feeds the next bytes of the body. False once the body is known to be malformed (and
  // from then on).
  bool Feed(std::string_view bytes);
  // At the end of the body: true when everything fed was well-formed and no pkt-line was
  // left unfinished. An empty body is well-formed (git answers it with nothing).
  bool CompleteAndValid() const { return !malformed_ && header_len_ == 0 && remaining_ == 0; }
  bool malformed() const { return malformed_; }

 private:
  bool malformed_ = false;
  char header_[4] = {};
  size_t header_len_ = 0;   // bytes of the current length header seen
  size_t remaining_ = 0;    // payload bytes of the current pkt-line still to come
  bool first_data_checked_ = false;
  std::string first_prefix_;  // the first data line's leading bytes, until checked
  size_t first_len_ = 0;      // that line's payload length
};

}  // namespace mirrord
