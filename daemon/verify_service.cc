#include "daemon/verify_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <set>

#include "common/clock.h"
#include "common/log.h"
#include "common/sha256.h"
#include "git/repo_maintenance.h"

namespace mirrord {
namespace {

namespace json = boost::json;
constexpr size_t kChunk = 1u << 20;

// The upstream's per-object verdicts that mean it no longer has the object.
bool LostUpstream(const Status& s) {
  return s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument;
}

}  // namespace

std::string VerifyOutcomeJson(const VerifyOutcome& outcome) {
  json::array mirrors;
  for (const MirrorCheck& m : outcome.mirrors) {
    json::object o{{"name", m.repo}, {"ok", m.ok}};
    if (!m.ok) o["error"] = m.error;
    mirrors.push_back(std::move(o));
  }
  json::array corrupt;
  for (const CorruptObject& c : outcome.corrupt) {
    json::object o{{"oid", c.oid}, {"size", c.size}, {"repo", c.repo}, {"outcome", c.outcome}};
    if (!c.error.empty()) o["error"] = c.error;
    corrupt.push_back(std::move(o));
  }
  json::object o{{"mirrors", std::move(mirrors)},
                 {"objects_checked", outcome.objects_checked},
                 {"bytes_checked", outcome.bytes_checked},
                 {"objects_absent", outcome.objects_absent},
                 {"corrupt", std::move(corrupt)}};
  return json::serialize(o);
}

VerifyService::VerifyService(LiveConfig& live, Catalog& catalog, BlobStore& store, Refetch refetch,
                             GcMetrics* metrics, std::function<void()> on_quarantined)
    : live_(live),
      catalog_(catalog),
      store_(store),
      refetch_(std::move(refetch)),
      metrics_(metrics),
      on_quarantined_(std::move(on_quarantined)) {}

VerifyService::~VerifyService() { Stop(); }

bool VerifyService::Wait(std::chrono::nanoseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

Result<bool> VerifyService::Rehash(const std::string& oid, uint64_t size, uint64_t rate,
                                   uint64_t* hashed) {
  ASSIGN_OR_RETURN(UniqueFd fd, store_.OpenObject(oid));
  struct stat opened {};
  if (::fstat(fd.get(), &opened) != 0) return ErrnoStatus(errno, "stat LFS object " + oid);
  Sha256 sha;
  std::string buf(kChunk, '\0');
  uint64_t total = 0;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read LFS object " + oid);
    if (n == 0) break;
    sha.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    total += static_cast<uint64_t>(n);
    *hashed += static_cast<uint64_t>(n);
    if (metrics_ != nullptr) metrics_->AddScrubbedBytes(static_cast<uint64_t>(n));
    if (rate > 0) {
      // Stay at `rate` bytes/s on average over this object: a throttle, not a synchronisation.
      const auto due = start + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::duration<double>(static_cast<double>(total) /
                                                                 static_cast<double>(rate)));
      const auto now = std::chrono::steady_clock::now();
      if (due > now && !Wait(due - now)) return Cancelled("mirrord is stopping");
    }
  }
  const bool intact = total == size && sha.FinishHex() == oid;
  if (intact) return true;
  // Corrupt, unless the file at the path is no longer the one read (swept and fetched again
  // meanwhile): then there is nothing to quarantine.
  struct stat now {};
  if (::stat(store_.ObjectPath(oid).c_str(), &now) != 0 || now.st_ino != opened.st_ino ||
      now.st_dev != opened.st_dev) {
    return NotFound("LFS object " + oid + " was replaced while it was verified");
  }
  return false;
}

CorruptObject VerifyService::Repair(const std::string& oid, uint64_t size, std::string_view repo) {
  CorruptObject c;
  c.oid = oid;
  c.size = size;
  if (metrics_ != nullptr) metrics_->RecordCorrupt(true);
  Result<std::filesystem::path> moved = store_.QuarantineObject(oid);
  if (!moved.ok() && moved.status().code() != StatusCode::kNotFound) {
    // Still in objects/: it would be served. Say so loudly; the next check tries again.
    c.outcome = "corrupt";
    c.error = "could not quarantine: " + moved.status().message();
    MLOG(Error) << "verify: LFS object " << oid << " is corrupt and " << c.error;
    return c;
  }
  MLOG(Warning) << "verify: LFS object " << oid << " failed verification at rest; quarantined";
  const int64_t now = ToUnixSeconds(std::chrono::system_clock::now());
  (void)catalog_.MarkLfsObjectMissing(oid, now);
  (void)catalog_.CountLfsQuarantine(oid, now);
  if (on_quarantined_) on_quarantined_();
  // Fetched again for the repo asked about, else for any repo that references it.
  std::optional<LfsRefRecord> reference;
  if (!repo.empty()) {
    if (Result<RepoRecord> r = catalog_.GetRepo(repo); r.ok()) {
      if (auto found = catalog_.FindLfsRef(r->id, oid); found.ok() && found->has_value()) {
        reference = **found;
        c.repo = std::string(repo);
      }
    }
  }
  if (!reference) {
    if (auto found = catalog_.FindLfsReferrer(oid); found.ok() && found->has_value()) {
      c.repo = (*found)->first;
      reference = (*found)->second;
    }
  }
  if (!reference) {
    c.outcome = "lost";
    c.error = "no repo references it, so there is no upstream to fetch it from";
  } else {
    Status fetched = refetch_(c.repo, *reference);
    if (fetched.ok()) {
      c.outcome = "refetched";
    } else {
      c.outcome = LostUpstream(fetched) ? "lost" : "quarantined";
      c.error = fetched.message();
    }
  }
  if (c.outcome == "lost" && metrics_ != nullptr) metrics_->RecordLost();
  if (c.outcome == "refetched") {
    MLOG(Info) << "verify: LFS object " << oid << ": fetched again for " << c.repo;
  } else {
    MLOG(Error) << "verify: LFS object " << oid << ": " << c.outcome << " (" << c.error << ")";
  }
  return c;
}

Status VerifyService::CheckObject(const std::string& oid, uint64_t size, std::string_view repo,
                                  uint64_t rate, VerifyOutcome* out) {
  Result<bool> intact = Rehash(oid, size, rate, &out->bytes_checked);
  if (!intact.ok()) {
    if (intact.status().code() == StatusCode::kNotFound) {
      ++out->objects_absent;
      return Status::Ok();
    }
    return intact.status();
  }
  ++out->objects_checked;
  if (!*intact) out->corrupt.push_back(Repair(oid, size, repo));
  return Status::Ok();
}

Result<VerifyOutcome> VerifyService::Verify(std::string_view name) {
  std::lock_guard run_lock(run_mu_);
  const std::shared_ptr<const Config> config = live_.Get();
  VerifyOutcome out;
  std::vector<RepoRecord> repos;
  if (name.empty()) {
    ASSIGN_OR_RETURN(repos, catalog_.ListRepos());
  } else {
    ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
    repos.push_back(std::move(repo));
  }
  for (const RepoRecord& repo : repos) {
    const std::filesystem::path dir = config->RepoDir(repo.name);
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;  // never synced
    MirrorCheck m;
    m.repo = repo.name;
    if (Status s = CheckMirrorIntegrity(dir); !s.ok()) {
      m.ok = false;
      m.error = s.message();
      if (s.code() == StatusCode::kDataLoss && metrics_ != nullptr) metrics_->RecordCorrupt(false);
      MLOG(Error) << "verify: " << s.ToString();
    }
    out.mirrors.push_back(std::move(m));
  }
  if (name.empty()) {
    ASSIGN_OR_RETURN(std::vector<BlobStore::StoredObject> objects, store_.ListObjects());
    for (const BlobStore::StoredObject& o : objects) {
      // The recorded size is the truth when known; a file of another size is corrupt.
      uint64_t size = o.size;
      if (Result<LfsObjectRecord> rec = catalog_.GetLfsObject(o.oid); rec.ok()) size = rec->size;
      RETURN_IF_ERROR(CheckObject(o.oid, size, "", 0, &out));
    }
    return out;
  }
  ASSIGN_OR_RETURN(std::vector<LfsRefRecord> refs, catalog_.GetLfsRefs(repos.front().id));
  std::set<std::string> seen;
  for (const LfsRefRecord& r : refs) {
    if (!seen.insert(r.oid).second) continue;
    RETURN_IF_ERROR(CheckObject(r.oid, r.size, repos.front().name, 0, &out));
  }
  return out;
}

void VerifyService::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Scrub(); });
}

void VerifyService::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void VerifyService::Scrub() {
  for (;;) {
    const VerifyConfig config = live_.Get()->verify;
    const bool off = config.rate == 0 || config.interval.count() <= 0;
    const auto pass_start = std::chrono::steady_clock::now();
    if (!off) {
      Result<std::vector<BlobStore::StoredObject>> objects = store_.ListObjects();
      if (!objects.ok()) MLOG(Error) << "scrub: " << objects.status().ToString();
      VerifyOutcome out;
      const std::vector<BlobStore::StoredObject> none;
      for (const BlobStore::StoredObject& o : objects.ok() ? *objects : none) {
        uint64_t size = o.size;
        if (Result<LfsObjectRecord> rec = catalog_.GetLfsObject(o.oid); rec.ok()) size = rec->size;
        Status s;
        {
          std::lock_guard run_lock(run_mu_);
          s = CheckObject(o.oid, size, "", live_.Get()->verify.rate, &out);
        }
        if (s.code() == StatusCode::kCancelled) return;
        if (!s.ok()) MLOG(Warning) << "scrub: " << s.ToString();
      }
      MLOG(Info) << "scrub: pass done: " << out.objects_checked << " LFS objects ("
                 << out.bytes_checked << " bytes) re-hashed, " << out.corrupt.size() << " corrupt";
    }
    const auto next = pass_start + (off ? std::chrono::seconds(3600) : config.interval);
    const auto now = std::chrono::steady_clock::now();
    if (!Wait(next > now ? next - now : std::chrono::nanoseconds(0))) return;
  }
}

}  // namespace mirrord
