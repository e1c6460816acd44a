#include "storage/blob_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <system_error>
#include <thread>
#include <utility>

#include "common/log.h"
#include "common/sha256.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;

// At most this many bytes beyond a closed gap are read back and hashed by one WriteAt, so
// that a download thread is not held up for long by bytes other threads wrote (or by the
// durable prefix of a resume): while it hashes, its socket fills, and what the kernel holds
// is lost if the process dies. The rest is hashed by later writes or by Publish().
constexpr uint64_t kReadBackBudgetPerWrite = uint64_t{4} << 20;
constexpr size_t kReadBackChunk = size_t{1} << 20;

constexpr std::string_view kJournalMagic = "mirrord-lfs-ranges 1";

bool IsValidOid(std::string_view oid) {
  return oid.size() == 64 && std::all_of(oid.begin(), oid.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string RangeText(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

// A set of byte offsets as disjoint, non-adjacent half-open ranges (adjacent ones merge).
// Thread-safety: none; guarded by its owner.
class RangeSet {
 public:
  void Add(uint64_t begin, uint64_t end) {
    if (begin >= end) return;
    auto it = ranges_.upper_bound(begin);
    if (it != ranges_.begin()) {
      auto prev = std::prev(it);
      if (prev->second >= begin) {
        begin = prev->first;
        end = std::max(end, prev->second);
        ranges_.erase(prev);
      }
    }
    while (it != ranges_.end() && it->first <= end) {
      end = std::max(end, it->second);
      it = ranges_.erase(it);
    }
    ranges_.emplace(begin, end);
  }

  void Remove(uint64_t begin, uint64_t end) {
    if (begin >= end) return;
    auto it = ranges_.upper_bound(begin);
    if (it != ranges_.begin()) {
      auto prev = std::prev(it);
      if (prev->second > begin) {
        const uint64_t prev_end = prev->second;
        if (prev->first < begin) {
          prev->second = begin;
        } else {
          ranges_.erase(prev);
        }
        if (prev_end > end) {
          ranges_.emplace(end, prev_end);
          return;
        }
      }
    }
    while (it != ranges_.end() && it->first < end) {
      if (it->second > end) {
        const uint64_t it_end = it->second;
        ranges_.erase(it);
        ranges_.emplace(end, it_end);
        return;
      }
      it = ranges_.erase(it);
    }
  }

  // The parts of [begin, end) not in the set, in order.
  std::vector<ByteRange> Gaps(uint64_t begin, uint64_t end) const {
    std::vector<ByteRange> out;
    uint64_t pos = begin;
    auto it = ranges_.upper_bound(begin);
    if (it != ranges_.begin()) pos = std::max(pos, std::prev(it)->second);
    for (; it != ranges_.end() && pos < end && it->first < end; ++it) {
      if (it->first > pos) out.push_back({pos, it->first});
      pos = std::max(pos, it->second);
    }
    if (pos < end) out.push_back({pos, end});
    return out;
  }

  bool Covers(uint64_t begin, uint64_t end) const { return Gaps(begin, end).empty(); }

  // The end of the run of the set that contains `from`, or `from` if none does.
  uint64_t ContiguousEnd(uint64_t from) const {
    auto it = ranges_.upper_bound(from);
    if (it == ranges_.begin()) return from;
    return std::max(from, std::prev(it)->second);
  }

  uint64_t Total() const {
    uint64_t total = 0;
    for (const auto& [b, e] : ranges_) total += e - b;
    return total;
  }

  const std::map<uint64_t, uint64_t>& ranges() const { return ranges_; }

 private:
  std::map<uint64_t, uint64_t> ranges_;  // begin -> end
};

// The journal: the magic line, "size N", one "BEGIN END" line per durable range in order,
// and "sha256 HEX" over all the preceding bytes, so that garbage is never mistaken for it.
std::string SerializeJournal(uint64_t size, const RangeSet& durable) {
  std::string text(kJournalMagic);
  text += "\nsize " + std::to_string(size) + "\n";
  for (const auto& [b, e] : durable.ranges()) {
    text += std::to_string(b) + " " + std::to_string(e) + "\n";
  }
  text += "sha256 " + Sha256Hex(text) + "\n";
  return text;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The durable ranges of a journal written for an object of `size` bytes; nullopt when the
// text is not a complete, intact journal or was written for another size.
std::optional<RangeSet> ParseJournal(std::string_view text, uint64_t size) {
  const size_t sum_pos = text.rfind("sha256 ");
  if (sum_pos == std::string_view::npos || (sum_pos > 0 && text[sum_pos - 1] != '\n')) {
    return std::nullopt;
  }
  const std::string_view body = text.substr(0, sum_pos);
  if (text.substr(sum_pos) != "sha256 " + Sha256Hex(body) + "\n") return std::nullopt;

  RangeSet out;
  uint64_t last_end = 0;
  size_t line_no = 0;
  std::string_view rest = body;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    if (line_no == 0) {
      if (line != kJournalMagic) return std::nullopt;
    } else if (line_no == 1) {
      uint64_t journal_size = 0;
      if (!line.starts_with("size ") || !ParseU64(line.substr(5), &journal_size) ||
          journal_size != size) {
        return std::nullopt;
      }
    } else {
      const size_t sp = line.find(' ');
      uint64_t b = 0;
      uint64_t e = 0;
      if (sp == std::string_view::npos || !ParseU64(line.substr(0, sp), &b) ||
          !ParseU64(line.substr(sp + 1), &e) || b >= e || e > size ||
          (line_no > 2 && b <= last_end)) {
        return std::nullopt;
      }
      out.Add(b, e);
      last_end = e;
    }
    ++line_no;
  }
  if (line_no < 2) return std::nullopt;
  return out;
}

// The .written log (see blob_store.h): a header naming the format, the boot id and the
// object's size, closed by the SHA-256 of those lines; then one line per written range,
// "BEGIN END CHECK", CHECK being the first 16 hex digits of SHA-256(header digest, range),
// so that a record of another log or a torn line is never taken for one of this log.
constexpr std::string_view kWrittenMagic = "mirrord-lfs-written 1";
// A log larger than this is not read (it cannot be one of ours: each round trims it).
constexpr uint64_t kMaxWrittenLogBytes = uint64_t{64} << 20;

struct WrittenLogFormat {
  std::string header;  // the exact bytes the log starts with
  std::string key;     // the header's digest, which every record's check covers

  WrittenLogFormat(std::string_view boot_id, uint64_t size) {
    header = std::string(kWrittenMagic) + "\nboot " + std::string(boot_id) + "\nsize " +
             std::to_string(size) + "\n";
    key = Sha256Hex(header);
    header += "sha256 " + key + "\n";
  }

  std::string Record(uint64_t begin, uint64_t end) const {
    std::string range = std::to_string(begin) + " " + std::to_string(end);
    std::string check = Sha256Hex(key + " " + range).substr(0, 16);
    return range + " " + check + "\n";
  }
};

// The written ranges of a log for this boot and `size`; nullopt when the header is not
// exactly the one this boot would write (another boot, another size, torn, garbage). The
// records are read up to the first torn or garbled line.
std::optional<std::vector<ByteRange>> ParseWrittenLog(std::string_view text,
                                                      std::string_view boot_id, uint64_t size) {
  if (boot_id.empty()) return std::nullopt;
  const WrittenLogFormat format(boot_id, size);
  if (!text.starts_with(format.header)) return std::nullopt;
  std::vector<ByteRange> out;
  std::string_view rest = text.substr(format.header.size());
  for (;;) {
    const size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) break;
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    uint64_t b = 0;
    uint64_t e = 0;
    if (sp2 == std::string_view::npos || !ParseU64(line.substr(0, sp1), &b) ||
        !ParseU64(line.substr(sp1 + 1, sp2 - sp1 - 1), &e) || b >= e || e > size ||
        std::string(line) + "\n" != format.Record(b, e)) {
      break;
    }
    out.push_back({b, e});
  }
  return out;
}

// write() all of `data` to `fd` (opened O_APPEND: one call per record batch, so records of
// concurrent writers never interleave within a line).
Status AppendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "append");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Starts an empty .written log at `path` for this boot (replacing any), open for appends.
// An invalid fd when there is no boot id (any old log is removed then) or on failure (a
// warning: resumes then use the fsynced journal only).
UniqueFd StartWrittenLog(const fs::path& path, const WrittenLogFormat* format) {
  if (format == nullptr) {
    (void)::unlink(path.c_str());
    return UniqueFd();
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
  Status status = fd.valid() ? AppendAll(fd.get(), format->header) : ErrnoStatus(errno, "open");
  if (!status.ok()) {
    MLOG(Warning) << "blob store: no written log " << path << " (" << status.message()
                  << "); a crash resumes from the fsynced journal only";
    (void)::unlink(path.c_str());
    return UniqueFd();
  }
  return fd;
}

// This machine's boot id, or "" when it cannot be read.
std::string ReadBootId() {
  auto text = ReadFileToString("/proc/sys/kernel/random/boot_id");
  if (!text.ok()) {
    MLOG(Warning) << "blob store: cannot read the boot id (" << text.status().message()
                  << "); a crash resumes LFS downloads from the fsynced journal only";
    return "";
  }
  std::string id = *text;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

Status PwriteAll(int fd, std::string_view data, uint64_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "pwrite " + std::to_string(data.size()) + " bytes at offset " +
                                    std::to_string(offset));
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

// Removes `path`; a missing file is fine.
Status RemoveIfPresent(const fs::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "remove " + path.string());
  }
  return Status::Ok();
}

// Renames `from` to `to` unless `to` exists (AlreadyExists then).
// "<64 hex>.<16 hex>.part": a private partial (BlobStoreOptions::stale_part_after).
bool IsPrivatePartName(std::string_view name) {
  if (name.size() != 64 + 1 + 16 + 5 || !name.ends_with(".part") || name[64] != '.') return false;
  auto hex = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  };
  return hex(name.substr(0, 64)) && hex(name.substr(65, 16));
}

Status RenameNoReplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return Status::Ok();
  }
  if (errno == EEXIST) return AlreadyExists(to.string() + " exists");
  if (errno != EINVAL && errno != ENOSYS) {
    return ErrnoStatus(errno, "rename " + from.string() + " to " + to.string());
  }
  // A filesystem without RENAME_NOREPLACE: link() refuses to replace, too.
  if (::link(from.c_str(), to.c_str()) != 0) {
    if (errno == EEXIST) return AlreadyExists(to.string() + " exists");
    return ErrnoStatus(errno, "link " + from.string() + " to " + to.string());
  }
  return RemoveIfPresent(from);
}

// Runs a function when destroyed unless cancelled.
template <typename F>
class Cleanup {
 public:
  explicit Cleanup(F f) : f_(std::move(f)) {}
  ~Cleanup() {
    if (armed_) f_();
  }
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  void Cancel() { armed_ = false; }

 private:
  F f_;
  bool armed_ = true;
};

}  // namespace

// The per-store registry of oids with a live PartialBlob, the waiters for them, and the
// quarantine's accounting.
struct BlobStore::State {
  std::mutex mu;
  // Notified (with `events` bumped) when an oid leaves open_partials or a lock held by
  // another process on a .part is released.
  std::condition_variable changed;
  uint64_t events = 0;                                 // guarded by mu
  std::set<std::string, std::less<>> open_partials;    // guarded by mu
  std::set<std::string, std::less<>> foreign_watches;  // guarded by mu
  std::map<std::string, int, std::less<>> waiters;     // guarded by mu

  void Notify() {
    ++events;
    changed.notify_all();
  }

  BlobStoreOptions options;
  std::mutex quarantine_mu;  // serialises trims
  std::atomic<uint64_t> quarantine_bytes{0};
  std::atomic<uint64_t> quarantine_files{0};
  std::atomic<uint64_t> quarantine_dropped{0};
  // Applies the quarantine limits under `root`/quarantine and refreshes the accounting.
  void TrimQuarantine(const fs::path& root);
};

void BlobStore::State::TrimQuarantine(const fs::path& root) {
  std::lock_guard trim_lock(quarantine_mu);
  struct Copy {
    fs::path path;
    std::string oid;
    uint64_t bytes = 0;
    struct timespec mtime {};
    uint64_t n = 0;
  };
  std::vector<Copy> copies;
  const fs::path dir = root / "quarantine";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t dot = name.rfind('.');
    uint64_t n = 0;
    if (dot == std::string::npos || !IsValidOid(std::string_view(name).substr(0, dot)) ||
        !ParseU64(std::string_view(name).substr(dot + 1), &n)) {
      continue;  // not ours
    }
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    copies.push_back(
        {it->path(), name.substr(0, dot), static_cast<uint64_t>(st.st_size), st.st_mtim, n});
  }
  if (ec) {
    MLOG(Warning) << "blob store: cannot list " << dir << ": " << ec.message();
    return;
  }
  // Newest first: by modification time (a quarantined .part keeps that of its last write),
  // then by copy number.
  std::sort(copies.begin(), copies.end(), [](const Copy& a, const Copy& b) {
    if (a.mtime.tv_sec != b.mtime.tv_sec) return a.mtime.tv_sec > b.mtime.tv_sec;
    if (a.mtime.tv_nsec != b.mtime.tv_nsec) return a.mtime.tv_nsec > b.mtime.tv_nsec;
    return a.n > b.n;
  });
  std::map<std::string, int, std::less<>> kept_of;
  uint64_t kept_bytes = 0;
  uint64_t kept_files = 0;
  bool removed = false;
  for (const Copy& c : copies) {
    int& kept = kept_of[c.oid];
    const char* why = nullptr;
    if (kept >= options.quarantine_per_object) {
      why = "per-object cap";
    } else if (c.bytes >
               options.quarantine_budget - std::min(kept_bytes, options.quarantine_budget)) {
      why = "byte budget";
    }
    if (why == nullptr) {
      ++kept;
      kept_bytes += c.bytes;
      ++kept_files;
      continue;
    }
    if (::unlink(c.path.c_str()) != 0 && errno != ENOENT) {
      MLOG(Warning) << "blob store: cannot drop quarantined " << c.path << ": "
                    << std::strerror(errno);
      kept_bytes += c.bytes;  // still on disk
      ++kept_files;
      continue;
    }
    removed = true;
    quarantine_dropped.fetch_add(1);
    MLOG(Warning) << "blob store: dropped quarantined " << c.path << " (" << c.bytes
                  << " bytes) to stay within the quarantine " << why << " ([lfs] quarantine_budget "
                  << options.quarantine_budget << " bytes, quarantine_per_object "
                  << options.quarantine_per_object << ")";
  }
  if (removed) (void)FsyncDirectory(dir);
  quarantine_bytes = kept_bytes;
  quarantine_files = kept_files;
}

// The state of one download. Lock order: journal_mu before mu. The SHA-256 and the
// read-back buffer belong to the thread that set `hasher_active` (under mu), and to nobody
// while it is false.
struct PartialBlob::Impl {
  enum class Phase {
    kOpen,         // accepting writes
    kSealed,       // every byte written and hashed; Publish is verifying
    kVerified,     // the hash matched; the final rename has not succeeded yet
    kPublished,    // visible in objects/
    kQuarantined,  // moved to quarantine/ (or removed)
  };

  // `stem`: the file names' stem under incomplete/ (the oid, or a private partial's
  // "<oid>.<random>").
  Impl(std::shared_ptr<BlobStore::State> state_in, fs::path root_in, std::string oid_in,
       uint64_t size_in, UniqueFd fd_in, RangeSet durable_in, const std::string& stem)
      : state(std::move(state_in)),
        root(std::move(root_in)),
        oid(std::move(oid_in)),
        size(size_in),
        part_path(root / "incomplete" / (stem + ".part")),
        journal_path(root / "incomplete" / (stem + ".ranges")),
        written_path(root / "incomplete" / (stem + ".written")),
        fd(std::move(fd_in)),
        claimed(durable_in),
        written(durable_in),
        durable(std::move(durable_in)) {}

  ~Impl() {
    // Release the flock before the registry entry, so that the next opener in this process
    // never finds the file still locked.
    fd.reset();
    std::lock_guard lock(state->mu);
    state->open_partials.erase(oid);
    state->Notify();
  }

  Status AdvanceHash(std::unique_lock<std::mutex>& lock, uint64_t data_offset,
                     std::string_view data, std::span<const ByteRange> mine, uint64_t read_budget);
  Status HashFromFile(uint64_t from, uint64_t to, uint64_t* hashed);
  Status FinishPublish();
  Result<fs::path> MoveToQuarantine();
  // One round of group commit, by the leader: fdatasync, then one journal with every
  // queued range. Called with commit_mu held via `lock`; releases it meanwhile.
  void CommitQueued(std::unique_lock<std::mutex>& lock);
  // Rewrites the .written log to the ranges written but not durable. journal_mu held.
  void TrimWrittenLog();
  // Whether `range` still needs a commit round (false: empty or durable already); the
  // errors of CommitRange's preconditions.
  Result<bool> NeedsCommit(ByteRange range) const;

  const std::shared_ptr<BlobStore::State> state;  // holds our entry in open_partials
  const fs::path root;
  const std::string oid;
  const uint64_t size;
  const fs::path part_path;
  const fs::path journal_path;
  const fs::path written_path;
  UniqueFd fd;  // O_RDWR, flock()ed

  // The .written log: appended by WriteAt, trimmed by commit rounds. written_mu is taken
  // before mu; an append and the update of `written` happen under it together, so a trim
  // (which snapshots `written`) never drops a record it does not rewrite.
  std::mutex written_mu;
  UniqueFd written_fd;                             // guarded by written_mu; invalid: no log
  std::optional<WrittenLogFormat> written_format;  // set with written_fd
  uint64_t resumed_from_written = 0;               // set at open

  std::mutex journal_mu;  // serialises journal writes with each other and with Publish
  mutable std::mutex mu;
  RangeSet claimed;            // guarded by mu: written, or being written by some WriteAt
  RangeSet written;            // guarded by mu: in the file (includes durable)
  RangeSet durable;            // guarded by mu; changed only with journal_mu held too
  uint64_t hash_frontier = 0;  // guarded by mu: [0, hash_frontier) was fed to `hash`
  bool hasher_active = false;  // guarded by mu
  Phase phase = Phase::kOpen;  // guarded by mu
  std::string verified_hash;   // set when leaving kSealed

  Sha256 hash;
  std::string read_buf;

  // Group commit (LevelDB's writer queue): callers of CommitRange queue their range; the
  // first one without a leader syncs and journals the whole queue for everyone.
  struct Committer {
    ByteRange range;
    bool done = false;
    Status status;
  };
  std::mutex commit_mu;
  std::condition_variable commit_cv;
  std::vector<Committer*> commit_queue;  // guarded by commit_mu
  std::vector<ByteRange> queued_ranges;  // guarded by commit_mu: of CommitRangeWhenConvenient
  Status queued_error;                   // guarded by commit_mu: a round of queued ranges failed
  bool commit_leader = false;            // guarded by commit_mu
};

// Feeds the SHA-256 with the written bytes from the frontier on, unless another thread is
// already doing so (it will pick these bytes up). Bytes inside `mine` (ranges of `data`,
// which starts at `data_offset`, that this caller wrote) come from the caller's buffer;
// others are read back from the file, at most `read_budget` bytes. Called and returns with
// `lock` held; releases it while hashing.
Status PartialBlob::Impl::AdvanceHash(std::unique_lock<std::mutex>& lock, uint64_t data_offset,
                                      std::string_view data, std::span<const ByteRange> mine,
                                      uint64_t read_budget) {
  if (hasher_active || (phase != Phase::kOpen && phase != Phase::kSealed)) return Status::Ok();
  hasher_active = true;
  Status status;
  for (;;) {
    const uint64_t from = hash_frontier;
    const uint64_t available = written.ContiguousEnd(from);
    if (available <= from) break;
    const ByteRange* own = nullptr;
    for (const ByteRange& r : mine) {
      if (r.begin <= from && from < r.end) own = &r;
    }
    if (own == nullptr && read_budget == 0) break;
    lock.unlock();
    uint64_t to = from;
    if (own != nullptr) {
      to = std::min(available, own->end);
      hash.Update(data.substr(from - data_offset, to - from));
    } else {
      const uint64_t want = std::min(available - from, read_budget);
      uint64_t hashed = 0;
      status = HashFromFile(from, from + want, &hashed);
      to = from + hashed;
      read_budget -= hashed;
    }
    lock.lock();
    hash_frontier = to;
    if (!status.ok()) break;
  }
  hasher_active = false;
  return status;
}

// Hashes [from, to) of the file in chunks; *hashed is how many bytes were fed to the hash,
// also on failure (the hash never holds part of a chunk that failed).
Status PartialBlob::Impl::HashFromFile(uint64_t from, uint64_t to, uint64_t* hashed) {
  *hashed = 0;
  if (read_buf.empty()) read_buf.resize(kReadBackChunk);
  while (from < to) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(to - from, read_buf.size()));
    size_t got = 0;
    while (got < want) {
      ssize_t n =
          ::pread(fd.get(), read_buf.data() + got, want - got, static_cast<off_t>(from + got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "read back " + part_path.string() + " at offset " +
                                      std::to_string(from + got) + " for hashing");
      }
      if (n == 0) {
        return Internal(part_path.string() + " ends at " + std::to_string(from + got) + " but " +
                        std::to_string(size) + " bytes were expected");
      }
      got += static_cast<size_t>(n);
    }
    hash.Update(std::string_view(read_buf.data(), want));
    from += want;
    *hashed += want;
  }
  return Status::Ok();
}

// The hash matched: make the object durable and visible, then drop the journal.
Status PartialBlob::Impl::FinishPublish() {
  const fs::path object = BlobStore::ObjectPathUnder(root, oid);
  const fs::path shard2 = object.parent_path();
  const fs::path shard1 = shard2.parent_path();
  const fs::path objects = shard1.parent_path();
  if (::fchmod(fd.get(), 0444) != 0) return ErrnoStatus(errno, "chmod " + part_path.string());
  if (::fdatasync(fd.get()) != 0) return ErrnoStatus(errno, "fdatasync " + part_path.string());
  RETURN_IF_ERROR(CreateDirectories(shard2));
  if (::rename(part_path.c_str(), object.c_str()) != 0) {
    const int err = errno;
    // A retry after a failure past the rename finds the object already in place.
    struct stat st;
    if (err != ENOENT || ::stat(object.c_str(), &st) != 0) {
      return ErrnoStatus(err, "rename " + part_path.string() + " to " + object.string());
    }
  }
  // The shard directories may be new: their entries must be durable too.
  RETURN_IF_ERROR(FsyncDirectory(shard2));
  RETURN_IF_ERROR(FsyncDirectory(shard1));
  RETURN_IF_ERROR(FsyncDirectory(objects));
  RETURN_IF_ERROR(RemoveIfPresent(written_path));
  RETURN_IF_ERROR(RemoveIfPresent(journal_path));
  return FsyncDirectory(root / "incomplete");
}

// Moves the .part to quarantine/<oid>.<n> (the journal goes first, so that a crash midway
// never resumes from this data). If the move fails the .part is removed instead.
Result<fs::path> PartialBlob::Impl::MoveToQuarantine() {
  RETURN_IF_ERROR(RemoveIfPresent(written_path));
  RETURN_IF_ERROR(RemoveIfPresent(journal_path));
  (void)::fchmod(fd.get(), 0444);  // kept for inspection, never written again
  Status status;
  for (int n = 1; n <= 1'000'000; ++n) {
    const fs::path target = root / "quarantine" / (oid + "." + std::to_string(n));
    status = RenameNoReplace(part_path, target);
    if (status.ok()) {
      RETURN_IF_ERROR(FsyncDirectory(root / "quarantine"));
      RETURN_IF_ERROR(FsyncDirectory(root / "incomplete"));
      MLOG(Warning) << "lfs object " << oid << ": partial data quarantined as " << target;
      state->TrimQuarantine(root);
      return target;
    }
    if (status.code() != StatusCode::kAlreadyExists) break;
  }
  (void)::unlink(part_path.c_str());
  return status.WithContext("quarantine " + part_path.string() + " (removed instead)");
}

BlobStore::BlobStore(fs::path root, BlobStoreOptions options)
    : root_(std::move(root)), state_(std::make_shared<State>()) {
  state_->options = options;
  state_->options.quarantine_per_object = std::max(0, options.quarantine_per_object);
}

BlobStore::~BlobStore() = default;

fs::path BlobStore::ObjectPathUnder(const fs::path& root, std::string_view oid) {
  const fs::path objects = root / "objects";
  // Never splice an unchecked string into a path (it could hold "/" or "..").
  if (!IsValidOid(oid)) return objects / "invalid-oid";
  return objects / std::string(oid.substr(0, 2)) / std::string(oid.substr(2, 2)) / std::string(oid);
}

Result<std::unique_ptr<BlobStore>> BlobStore::Open(const fs::path& root, BlobStoreOptions options) {
  for (const char* dir : {"objects", "incomplete", "quarantine"}) {
    RETURN_IF_ERROR(CreateDirectories(root / dir).WithContext("open blob store"));
  }
  RETURN_IF_ERROR(FsyncDirectory(root));
  if (!options.boot_id.has_value()) options.boot_id = ReadBootId();
  std::unique_ptr<BlobStore> store(new BlobStore(root, options));
  store->state_->TrimQuarantine(root);

  // Temporary files of journal writes interrupted by a crash, and journals of objects that
  // were published just before a crash, are of no further use. Partials are kept.
  const fs::path incomplete = root / "incomplete";
  std::error_code ec;
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(incomplete, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find(".tmp.") != std::string::npos || name.ends_with(".written.next")) {
      stale.push_back(it->path());
    } else if (IsPrivatePartName(name)) {
      // A private partial (stale_part_after) is never resumed: gone once nobody holds it.
      UniqueFd fd(::open(it->path().c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.valid() && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
        stale.push_back(it->path());
        for (const char* ext : {".ranges", ".written"}) {
          fs::path side = it->path();
          side.replace_extension(ext);
          stale.push_back(side);
        }
      }
    } else if (name.ends_with(".ranges") || name.ends_with(".written")) {
      const std::string oid = name.substr(0, name.rfind('.'));
      if (store->Contains(oid)) stale.push_back(it->path());
    }
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + incomplete.string());
  for (const fs::path& p : stale) {
    MLOG(Info) << "blob store: removing leftover " << p;
    RETURN_IF_ERROR(RemoveIfPresent(p));
  }
  return store;
}

bool BlobStore::Contains(std::string_view oid) const {
  if (!IsValidOid(oid)) return false;
  struct stat st;
  return ::stat(ObjectPath(oid).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

fs::path BlobStore::ObjectPath(std::string_view oid) const { return ObjectPathUnder(root_, oid); }

Result<UniqueFd> BlobStore::OpenObject(std::string_view oid) const {
  if (!IsValidOid(oid)) return InvalidArgument("invalid LFS oid '" + std::string(oid) + "'");
  const fs::path path = ObjectPath(oid);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return NotFound("LFS object " + std::string(oid) + " is not stored");
    return ErrnoStatus(errno, "open " + path.string());
  }
  return fd;
}

Result<std::unique_ptr<PartialBlob>> BlobStore::OpenPartial(std::string_view oid, uint64_t size) {
  Busy busy = Busy::kNo;
  uint64_t own_events = 0;
  return TryOpenPartial(oid, size, &busy, &own_events);
}

int BlobStore::WaitersFor(std::string_view oid) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->waiters.find(oid);
  return it == state_->waiters.end() ? 0 : it->second;
}

BlobStore::QuarantineUsage BlobStore::quarantine_usage() const {
  return {state_->quarantine_bytes.load(), state_->quarantine_files.load(),
          state_->quarantine_dropped.load()};
}

Result<std::unique_ptr<PartialBlob>> BlobStore::OpenPartialWhenFree(std::string_view oid,
                                                                    uint64_t size,
                                                                    const BusyWait& wait) {
  // The flag is observed at least this often; the wake-up itself is a notification.
  constexpr auto kCancelCheck = std::chrono::milliseconds(100);
  bool announced = false;
  for (;;) {
    uint64_t seen = 0;
    {
      std::lock_guard lock(state_->mu);
      seen = state_->events;
    }
    Busy busy = Busy::kNo;
    uint64_t own_events = 0;
    Result<std::unique_ptr<PartialBlob>> opened = TryOpenPartial(oid, size, &busy, &own_events);
    if (busy == Busy::kElsewhere && SharedPartIsStale(oid)) {
      opened = OpenPrivatePartial(oid, size, &busy, &own_events);
    }
    if (busy == Busy::kNo) return opened;
    seen += own_events;
    if (!announced && wait.on_wait) wait.on_wait(opened.status().message());
    announced = true;

    std::unique_lock lock(state_->mu);
    if (busy == Busy::kElsewhere && !state_->foreign_watches.contains(oid)) {
      // One thread per oid locked elsewhere blocks in flock() until the holder lets go (it
      // publishes, fails, or dies), then releases the lock at once and wakes the waiters,
      // who race for it like any other opener. It holds the registry alive, not the store.
      state_->foreign_watches.emplace(oid);
      const fs::path part = root_ / "incomplete" / (std::string(oid) + ".part");
      std::thread([state = state_, part, key = std::string(oid)] {
        UniqueFd fd(::open(part.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.valid()) {
          while (::flock(fd.get(), LOCK_EX) != 0 && errno == EINTR) {
          }
        }
        fd.reset();
        std::lock_guard watch_lock(state->mu);
        state->foreign_watches.erase(key);
        state->Notify();
      }).detach();
    }
    int& waiters = state_->waiters[std::string(oid)];
    ++waiters;
    Status outcome;
    while (state_->events == seen) {
      // A holder elsewhere that stopped changing its .part: look again (a private partial).
      if (busy == Busy::kElsewhere && SharedPartIsStale(oid)) break;
      if (wait.cancel != nullptr && wait.cancel->load()) {
        outcome = Cancelled("waiting for another download of LFS object " + std::string(oid) +
                            " cancelled");
        break;
      }
      auto until = std::chrono::steady_clock::now() + kCancelCheck;
      if (wait.deadline.has_value()) {
        if (std::chrono::steady_clock::now() >= *wait.deadline) {
          outcome = DeadlineExceeded("LFS object " + std::string(oid) +
                                     " is still being downloaded by another download");
          break;
        }
        until = std::min(until, *wait.deadline);
      }
      state_->changed.wait_until(lock, until);
    }
    auto it = state_->waiters.find(oid);
    if (--it->second == 0) state_->waiters.erase(it);
    if (!outcome.ok()) return outcome;
  }
}

Result<std::unique_ptr<PartialBlob>> BlobStore::TryOpenPartial(std::string_view oid_view,
                                                               uint64_t size, Busy* busy,
                                                               uint64_t* own_events) {
  *busy = Busy::kNo;
  if (!IsValidOid(oid_view)) {
    return InvalidArgument("invalid LFS oid '" + std::string(oid_view) + "'");
  }
  if (size > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
    return InvalidArgument("LFS object size " + std::to_string(size) + " is too large");
  }
  const std::string oid(oid_view);
  // Until the PartialBlob takes it over, the registry entry is released on every return.
  // Waiters that found this (transient) entry are woken when it goes.
  RETURN_IF_ERROR(EnterRegistry(oid, busy, own_events));
  Cleanup release([this, &oid, own_events] { LeaveRegistry(oid, own_events); });

  const fs::path incomplete = root_ / "incomplete";
  const fs::path part = incomplete / (oid + ".part");
  const fs::path journal = incomplete / (oid + ".ranges");
  const fs::path written_log = incomplete / (oid + ".written");

  // Open and lock the .part; if it was renamed or removed between the open and the lock
  // (another process published or quarantined it), try again with the new file.
  UniqueFd fd;
  struct stat st;
  for (int attempt = 0;; ++attempt) {
    fd.reset(::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid() && errno == EACCES) {
      // Left read-only by a Publish whose final rename failed.
      (void)::chmod(part.c_str(), 0644);
      fd.reset(::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    }
    if (!fd.valid()) return ErrnoStatus(errno, "open " + part.string());
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        *busy = Busy::kElsewhere;
        return FailedPrecondition("LFS object " + oid +
                                  " is being downloaded by another process (" + part.string() +
                                  " is locked)");
      }
      return ErrnoStatus(errno, "lock " + part.string());
    }
    struct stat path_st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat " + part.string());
    if (::stat(part.c_str(), &path_st) == 0 && path_st.st_dev == st.st_dev &&
        path_st.st_ino == st.st_ino) {
      break;
    }
    if (attempt >= 10)
      return Unavailable("could not lock " + part.string() + ": it keeps changing");
  }
  if (::fchmod(fd.get(), 0644) != 0) return ErrnoStatus(errno, "chmod " + part.string());
  if (Contains(oid)) {
    // Published by another process after our first look: this partial is of no use.
    (void)::unlink(part.c_str());
    return AlreadyExists("LFS object " + oid + " is already stored");
  }

  // Durable ranges from an earlier attempt, if the journal is intact, for this size, and
  // the .part has the size the journal was written for.
  RangeSet durable;
  bool resumed = false;
  bool discard = false;
  auto journal_text = ReadFileToString(journal);
  if (journal_text.ok()) {
    std::optional<RangeSet> parsed = ParseJournal(*journal_text, size);
    if (parsed.has_value() && static_cast<uint64_t>(st.st_size) == size) {
      durable = std::move(*parsed);
      resumed = true;
    } else {
      discard = true;
    }
  } else if (journal_text.status().code() != StatusCode::kNotFound) {
    return journal_text.status().WithContext("read journal of LFS object " + oid);
  }

  // Ranges written on this boot before a crash (the .written log): in the page cache, so
  // made durable now (fdatasync) and journalled like any durable range. A log of another
  // boot, size or format is ignored (the fsynced journal alone counts).
  const std::string& boot_id = *state_->options.boot_id;
  std::optional<WrittenLogFormat> format;
  if (!boot_id.empty()) format.emplace(boot_id, size);
  uint64_t from_written = 0;
  if (!discard && static_cast<uint64_t>(st.st_size) == size && format.has_value()) {
    struct stat log_st;
    std::optional<std::vector<ByteRange>> logged;
    if (::stat(written_log.c_str(), &log_st) == 0 &&
        static_cast<uint64_t>(log_st.st_size) <= kMaxWrittenLogBytes) {
      auto log_text = ReadFileToString(written_log);
      if (log_text.ok()) logged = ParseWrittenLog(*log_text, boot_id, size);
    }
    if (logged.has_value()) {
      RangeSet next = durable;
      for (const ByteRange& r : *logged) next.Add(r.begin, r.end);
      from_written = next.Total() - durable.Total();
      if (from_written > 0) {
        if (::fdatasync(fd.get()) != 0) return ErrnoStatus(errno, "fdatasync " + part.string());
        RETURN_IF_ERROR(WriteFileAtomically(journal, SerializeJournal(size, next))
                            .WithContext("journal LFS object " + oid));
        durable = std::move(next);
        resumed = true;
      }
    }
  }
  if (discard) {
    MLOG(Warning) << "LFS object " << oid << ": discarding journal " << journal
                  << " (damaged, or not for " << size << " bytes); starting from zero";
    RETURN_IF_ERROR(RemoveIfPresent(journal));
    RETURN_IF_ERROR(FsyncDirectory(incomplete));
  }
  if (!resumed) {
    // An old log must not outlive the data it describes.
    RETURN_IF_ERROR(RemoveIfPresent(written_log));
    if (st.st_size != 0 && ::ftruncate(fd.get(), 0) != 0) {
      return ErrnoStatus(errno, "truncate " + part.string());
    }
  }
  if (size > 0) {
    const int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size));
    if (rc != 0) {
      // A fresh file would only hold the space some preallocation got; a resumed one keeps
      // its durable data for when there is room.
      if (!resumed) (void)::unlink(part.c_str());
      return ErrnoStatus(rc, "preallocate " + std::to_string(size) + " bytes for " + part.string());
    }
  }
  // A fresh log for this attempt (everything an old one said is in the journal now).
  UniqueFd written_fd = StartWrittenLog(written_log, format.has_value() ? &*format : nullptr);
  if (resumed) {
    MLOG(Info) << "LFS object " << oid << ": resuming with " << durable.Total() << " of " << size
               << " bytes durable (" << from_written
               << " of them written before a crash on this boot)";
  }
  auto impl = std::make_unique<PartialBlob::Impl>(state_, root_, oid, size, std::move(fd),
                                                  std::move(durable), oid);
  if (written_fd.valid()) {
    impl->written_fd = std::move(written_fd);
    impl->written_format = std::move(format);
  }
  impl->resumed_from_written = from_written;
  release.Cancel();
  return std::unique_ptr<PartialBlob>(new PartialBlob(std::move(impl)));
}

Status BlobStore::EnterRegistry(const std::string& oid, Busy* busy, uint64_t* own_events) {
  {
    std::lock_guard lock(state_->mu);
    if (!state_->open_partials.insert(oid).second) {
      *busy = Busy::kHere;
      return FailedPrecondition("LFS object " + oid + " is already being downloaded");
    }
  }
  if (Contains(oid)) {
    LeaveRegistry(oid, own_events);
    return AlreadyExists("LFS object " + oid + " is already stored");
  }
  return Status::Ok();
}

void BlobStore::LeaveRegistry(const std::string& oid, uint64_t* own_events) {
  std::lock_guard lock(state_->mu);
  state_->open_partials.erase(oid);
  state_->Notify();
  ++*own_events;
}

bool BlobStore::SharedPartIsStale(std::string_view oid) const {
  if (!state_->options.stale_part_after) return false;
  struct stat st;
  const fs::path part = root_ / "incomplete" / (std::string(oid) + ".part");
  if (::stat(part.c_str(), &st) != 0) return false;
  const auto changed = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  return std::chrono::system_clock::now() - changed >= *state_->options.stale_part_after;
}

Result<std::unique_ptr<PartialBlob>> BlobStore::OpenPrivatePartial(std::string_view oid_view,
                                                                   uint64_t size, Busy* busy,
                                                                   uint64_t* own_events) {
  *busy = Busy::kNo;
  const std::string oid(oid_view);
  RETURN_IF_ERROR(EnterRegistry(oid, busy, own_events));
  Cleanup release([this, &oid, own_events] { LeaveRegistry(oid, own_events); });
  std::random_device random;
  char token[17];
  std::snprintf(token, sizeof token, "%08x%08x", random(), random());
  const std::string stem = oid + "." + token;
  const fs::path part = root_ / "incomplete" / (stem + ".part");
  UniqueFd fd(::open(part.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus(errno, "create " + part.string());
  // Locked while in use, so that Open (of any process) removes it only once abandoned.
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return ErrnoStatus(errno, "lock " + part.string());
  if (size > 0) {
    const int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size));
    if (rc != 0) {
      (void)::unlink(part.c_str());
      return ErrnoStatus(rc, "preallocate " + std::to_string(size) + " bytes for " + part.string());
    }
  }
  MLOG(Warning) << "LFS object " << oid << ": " << oid << ".part has been locked by another "
                << "process without a change for " << state_->options.stale_part_after->count()
                << " s (a stopped node?); downloading into " << part.filename().string();
  auto impl = std::make_unique<PartialBlob::Impl>(state_, root_, oid, size, std::move(fd),
                                                  RangeSet(), stem);
  release.Cancel();
  return std::unique_ptr<PartialBlob>(new PartialBlob(std::move(impl)));
}

Result<BlobStore::Usage> BlobStore::ComputeUsage() const {
  Usage usage;
  const fs::path objects = root_ / "objects";
  std::error_code ec;
  for (fs::recursive_directory_iterator it(objects, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || ec) continue;
    if (!IsValidOid(it->path().filename().string())) continue;
    const uint64_t bytes = it->file_size(ec);
    if (ec) break;
    ++usage.objects;
    usage.bytes += bytes;
  }
  if (ec) return ErrnoStatus(ec.value(), "walk " + objects.string());
  return usage;
}

PartialBlob::PartialBlob(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PartialBlob::~PartialBlob() = default;

const std::string& PartialBlob::oid() const { return impl_->oid; }

uint64_t PartialBlob::size() const { return impl_->size; }

std::vector<ByteRange> PartialBlob::MissingRanges() const {
  std::lock_guard lock(impl_->mu);
  return impl_->durable.Gaps(0, impl_->size);
}

uint64_t PartialBlob::DurableBytes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->durable.Total();
}

uint64_t PartialBlob::ResumedFromWrittenLog() const { return impl_->resumed_from_written; }

uint64_t PartialBlob::HashedBytes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->hash_frontier;
}

Status PartialBlob::WriteAt(uint64_t offset, std::string_view data) {
  Impl& m = *impl_;
  if (offset > m.size || data.size() > m.size - offset) {
    return InvalidArgument("write of " + std::to_string(data.size()) + " bytes at offset " +
                           std::to_string(offset) + " is beyond the " + std::to_string(m.size) +
                           " bytes of LFS object " + m.oid);
  }
  if (data.empty()) return Status::Ok();
  const uint64_t end = offset + data.size();
  std::vector<ByteRange> pieces;
  {
    std::lock_guard lock(m.mu);
    if (m.phase != Impl::Phase::kOpen) {
      return FailedPrecondition("LFS object " + m.oid + " is no longer being written");
    }
    // Bytes written before (or being written) keep their content: the hash covers them.
    pieces = m.claimed.Gaps(offset, end);
    for (const ByteRange& p : pieces) m.claimed.Add(p.begin, p.end);
  }
  Status status;
  size_t done = 0;
  for (; done < pieces.size(); ++done) {
    const ByteRange& p = pieces[done];
    status = PwriteAll(m.fd.get(), data.substr(p.begin - offset, p.size()), p.begin);
    if (!status.ok()) break;
  }
  // The bytes are in the file: log their ranges (after them, so that a crash never finds a
  // logged range that was not written), together with the update of `written`.
  std::unique_lock log_lock(m.written_mu);
  if (done > 0 && m.written_fd.valid()) {
    std::string records;
    for (size_t i = 0; i < done; ++i) {
      records += m.written_format->Record(pieces[i].begin, pieces[i].end);
    }
    Status logged = AppendAll(m.written_fd.get(), records);
    if (!logged.ok()) {
      MLOG(Warning) << "LFS object " << m.oid << ": dropping the written log " << m.written_path
                    << " (" << logged.message()
                    << "); a crash resumes from the fsynced journal only";
      m.written_fd.reset();
      (void)::unlink(m.written_path.c_str());
    }
  }
  std::unique_lock lock(m.mu);
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i < done) {
      m.written.Add(pieces[i].begin, pieces[i].end);
    } else {
      m.claimed.Remove(pieces[i].begin, pieces[i].end);
    }
  }
  log_lock.unlock();
  if (!status.ok()) return status.WithContext(m.part_path.string());
  return m.AdvanceHash(lock, offset, data, std::span(pieces.data(), done), kReadBackBudgetPerWrite);
}

Result<bool> PartialBlob::Impl::NeedsCommit(ByteRange range) const {
  if (range.begin > range.end || range.end > size) {
    return InvalidArgument("commit of " + RangeText(range.begin, range.end) + " is outside the " +
                           std::to_string(size) + " bytes of LFS object " + oid);
  }
  if (range.begin == range.end) return false;
  std::lock_guard lock(mu);
  if (phase == Phase::kPublished || phase == Phase::kQuarantined) {
    return FailedPrecondition("LFS object " + oid + " is finished");
  }
  if (!written.Covers(range.begin, range.end)) {
    return FailedPrecondition("commit of " + RangeText(range.begin, range.end) + " of LFS object " +
                              oid + ": not all of it was written");
  }
  return !durable.Covers(range.begin, range.end);
}

Status PartialBlob::CommitRange(ByteRange range) {
  Impl& m = *impl_;
  ASSIGN_OR_RETURN(const bool needed, m.NeedsCommit(range));
  if (!needed) return Status::Ok();
  std::unique_lock commit_lock(m.commit_mu);
  Impl::Committer me;
  me.range = range;
  m.commit_queue.push_back(&me);
  while (!me.done) {
    if (!m.commit_leader) {
      m.CommitQueued(commit_lock);
    } else {
      m.commit_cv.wait(commit_lock);
    }
  }
  return me.status;
}

Status PartialBlob::CommitRangeWhenConvenient(ByteRange range) {
  Impl& m = *impl_;
  ASSIGN_OR_RETURN(const bool needed, m.NeedsCommit(range));
  if (!needed) return Status::Ok();
  std::unique_lock commit_lock(m.commit_mu);
  // An earlier round's failure is reported once, before anything new is queued.
  auto take_error = [&m] { return std::exchange(m.queued_error, Status::Ok()); };
  if (!m.queued_error.ok()) return take_error();
  m.queued_ranges.push_back(range);
  if (m.commit_leader) return Status::Ok();
  m.CommitQueued(commit_lock);
  return take_error();
}

void PartialBlob::Impl::CommitQueued(std::unique_lock<std::mutex>& commit_lock) {
  commit_leader = true;
  std::vector<Committer*> batch;
  batch.swap(commit_queue);
  std::vector<ByteRange> queued;
  queued.swap(queued_ranges);
  commit_lock.unlock();
  // Every queued caller's bytes were written before it queued, so one fdatasync started now
  // covers them all: the data is on disk before the journal says so.
  Status status;
  if (::fdatasync(fd.get()) != 0) status = ErrnoStatus(errno, "fdatasync " + part_path.string());
  if (status.ok()) {
    std::lock_guard journal_lock(journal_mu);
    RangeSet next;
    bool finished_now = false;
    {
      std::lock_guard lock(mu);
      // Publish or Quarantine removed the journal; writing one now would resurrect it.
      finished_now = phase == Phase::kPublished || phase == Phase::kQuarantined;
      next = durable;
    }
    if (finished_now) {
      status = FailedPrecondition("LFS object " + oid + " is finished");
    } else {
      for (const Committer* c : batch) next.Add(c->range.begin, c->range.end);
      for (const ByteRange& r : queued) next.Add(r.begin, r.end);
      status = WriteFileAtomically(journal_path, SerializeJournal(size, next))
                   .WithContext("journal LFS object " + oid);
      if (status.ok()) {
        {
          std::lock_guard lock(mu);
          durable = std::move(next);
        }
        TrimWrittenLog();
      }
    }
  }
  commit_lock.lock();
  for (Committer* c : batch) {
    c->status = status;
    c->done = true;
  }
  if (!queued.empty() && !status.ok()) queued_error = status;
  commit_leader = false;
  commit_cv.notify_all();
}

void PartialBlob::Impl::TrimWrittenLog() {
  std::lock_guard log_lock(written_mu);
  if (!written_fd.valid()) return;
  std::string text = written_format->header;
  {
    std::lock_guard lock(mu);
    for (const auto& [b, e] : written.ranges()) {
      for (const ByteRange& r : durable.Gaps(b, e)) text += written_format->Record(r.begin, r.end);
    }
  }
  // A new file renamed over the old one, so that a crash at any moment finds one whole log
  // (a truncate-then-append would leave a moment with the records gone). No fsync: the log
  // is only trusted on this boot.
  fs::path next = written_path;
  next += ".next";
  UniqueFd next_fd(::open(next.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
  Status status = next_fd.valid() ? AppendAll(next_fd.get(), text) : ErrnoStatus(errno, "create");
  if (status.ok() && ::rename(next.c_str(), written_path.c_str()) != 0) {
    status = ErrnoStatus(errno, "rename");
  }
  if (status.ok()) {
    written_fd = std::move(next_fd);
    return;
  }
  (void)::unlink(next.c_str());
  MLOG(Warning) << "LFS object " << oid << ": dropping the written log " << written_path << " ("
                << status.message() << "); a crash resumes from the fsynced journal only";
  written_fd.reset();
  (void)::unlink(written_path.c_str());
}

Status PartialBlob::Publish() {
  Impl& m = *impl_;
  std::lock_guard journal_lock(m.journal_mu);
  std::unique_lock lock(m.mu);
  switch (m.phase) {
    case Impl::Phase::kPublished:
      return Status::Ok();
    case Impl::Phase::kQuarantined:
      return FailedPrecondition("LFS object " + m.oid + " was quarantined");
    case Impl::Phase::kVerified:
      lock.unlock();
      break;  // an earlier attempt failed after verification: only the rename is left
    case Impl::Phase::kSealed:
      return Internal("LFS object " + m.oid + ": Publish re-entered");
    case Impl::Phase::kOpen: {
      if (m.hasher_active || !(m.claimed.ranges() == m.written.ranges())) {
        return FailedPrecondition("LFS object " + m.oid + ": writes are still in progress");
      }
      const std::vector<ByteRange> gaps = m.written.Gaps(0, m.size);
      if (!gaps.empty()) {
        uint64_t missing = 0;
        for (const ByteRange& g : gaps) missing += g.size();
        return FailedPrecondition("LFS object " + m.oid + ": " + std::to_string(missing) + " of " +
                                  std::to_string(m.size) + " bytes not written yet, first " +
                                  RangeText(gaps.front().begin, gaps.front().end));
      }
      struct stat st;
      if (::fstat(m.fd.get(), &st) != 0) return ErrnoStatus(errno, "stat " + m.part_path.string());
      m.phase = Impl::Phase::kSealed;  // no more writes; the hash is ours to finish
      Status hashed = m.AdvanceHash(lock, 0, {}, {}, std::numeric_limits<uint64_t>::max());
      if (hashed.ok() && m.hash_frontier != m.size) {
        hashed = Internal("hashed " + std::to_string(m.hash_frontier) + " of " +
                          std::to_string(m.size) + " bytes");
      }
      if (!hashed.ok()) {
        m.phase = Impl::Phase::kOpen;
        return hashed.WithContext("verify LFS object " + m.oid);
      }
      lock.unlock();
      m.verified_hash = m.hash.FinishHex();
      std::string problem;
      if (static_cast<uint64_t>(st.st_size) != m.size) {
        problem = "size mismatch for LFS object " + m.oid + ": expected " + std::to_string(m.size) +
                  " bytes, the file has " + std::to_string(st.st_size);
      } else if (m.verified_hash != m.oid) {
        problem = "SHA-256 mismatch for LFS object: expected " + m.oid + ", got " + m.verified_hash;
      }
      if (!problem.empty()) {
        lock.lock();
        m.phase = Impl::Phase::kQuarantined;
        lock.unlock();
        auto where = m.MoveToQuarantine();
        if (!where.ok()) return DataLoss(problem + "; " + where.status().message());
        return DataLoss(problem + "; data moved to " + where->string());
      }
      lock.lock();
      m.phase = Impl::Phase::kVerified;
      lock.unlock();
      break;
    }
  }
  RETURN_IF_ERROR(m.FinishPublish().WithContext("publish LFS object " + m.oid));
  lock.lock();
  m.phase = Impl::Phase::kPublished;
  return Status::Ok();
}

Result<fs::path> PartialBlob::Quarantine() {
  Impl& m = *impl_;
  std::lock_guard journal_lock(m.journal_mu);
  {
    std::lock_guard lock(m.mu);
    if (m.phase == Impl::Phase::kPublished || m.phase == Impl::Phase::kQuarantined) {
      return FailedPrecondition("LFS object " + m.oid + " is finished");
    }
    m.phase = Impl::Phase::kQuarantined;
  }
  return m.MoveToQuarantine();
}

Result<uint64_t> BlobStore::RemoveObject(std::string_view oid) {
  if (!IsValidOid(oid)) return InvalidArgument("invalid LFS oid '" + std::string(oid) + "'");
  const fs::path path = ObjectPath(oid);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoStatus(errno, "stat " + path.string());
  }
  if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "remove " + path.string());
  RETURN_IF_ERROR(FsyncDirectory(path.parent_path()));
  return static_cast<uint64_t>(st.st_size);
}

Result<fs::path> BlobStore::QuarantineObject(std::string_view oid_view) {
  if (!IsValidOid(oid_view)) {
    return InvalidArgument("invalid LFS oid '" + std::string(oid_view) + "'");
  }
  const std::string oid(oid_view);
  const fs::path path = ObjectPath(oid);
  if (::access(path.c_str(), F_OK) != 0) return ErrnoStatus(errno, "stat " + path.string());
  Status status;
  for (int n = 1; n <= 1'000'000; ++n) {
    const fs::path target = root_ / "quarantine" / (oid + "." + std::to_string(n));
    status = RenameNoReplace(path, target);
    if (status.ok()) {
      RETURN_IF_ERROR(FsyncDirectory(root_ / "quarantine"));
      RETURN_IF_ERROR(FsyncDirectory(path.parent_path()));
      MLOG(Warning) << "lfs object " << oid << ": stored data quarantined as " << target;
      state_->TrimQuarantine(root_);
      return target;
    }
    if (status.code() != StatusCode::kAlreadyExists) break;
  }
  return status.WithContext("quarantine " + path.string());
}

Result<std::vector<BlobStore::StoredObject>> BlobStore::ListObjects() const {
  std::vector<StoredObject> out;
  const fs::path objects = root_ / "objects";
  std::error_code ec;
  for (fs::recursive_directory_iterator it(objects, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || ec) continue;
    std::string name = it->path().filename().string();
    if (!IsValidOid(name)) continue;
    const uint64_t bytes = it->file_size(ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) {  // removed meanwhile
        ec.clear();
        continue;
      }
      break;
    }
    out.push_back({std::move(name), bytes});
  }
  if (ec) return ErrnoStatus(ec.value(), "walk " + objects.string());
  return out;
}

}  // namespace mirrord
