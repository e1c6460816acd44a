#include "deploy/oci_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <system_error>
#include <utility>

#include "common/lfs_pointer.h"
#include "common/sha256.h"

namespace mirrord {

bool IsValidSha256Digest(std::string_view digest) {
  return digest.starts_with("sha256:") && IsValidLfsOid(digest.substr(7));
}

Result<std::unique_ptr<OciStore>> OciStore::Open(const std::filesystem::path& root) {
  RETURN_IF_ERROR(CreateDirectories(root / "blobs" / "sha256"));
  RETURN_IF_ERROR(CreateDirectories(root / "incomplete"));
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root / "incomplete", ec)) {
    if (entry.path().extension() != ".part") std::filesystem::remove(entry.path(), ec);
  }
  return std::unique_ptr<OciStore>(new OciStore(root));
}

std::filesystem::path OciStore::BlobPath(std::string_view digest) const {
  std::string_view hex = digest.starts_with("sha256:") ? digest.substr(7) : digest;
  return root_ / "blobs" / "sha256" / std::string(hex);
}

bool OciStore::Contains(std::string_view digest) const {
  std::error_code ec;
  return IsValidSha256Digest(digest) && std::filesystem::exists(BlobPath(digest), ec);
}

Result<OciStore::Writer> OciStore::NewWriter() {
  static std::atomic<uint64_t> counter{0};
  // Not ".part" (those are downloads kept across restarts): Open removes it after a crash.
  std::filesystem::path tmp =
      root_ / "incomplete" /
      ("blob." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)));
  UniqueFd fd(::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444));
  if (!fd.valid()) return ErrnoStatus(errno, "create " + tmp.string());
  return Writer(*this, std::move(tmp), std::move(fd));
}

Result<std::string> OciStore::Put(std::string_view bytes) {
  ASSIGN_OR_RETURN(Writer writer, NewWriter());
  RETURN_IF_ERROR(writer.Append(bytes));
  return writer.Commit();
}

OciStore::Writer::Writer(OciStore& store, std::filesystem::path tmp, UniqueFd fd)
    : store_(&store), tmp_(std::move(tmp)), fd_(std::move(fd)) {}

OciStore::Writer::Writer(Writer&& o) noexcept
    : store_(o.store_),
      tmp_(std::exchange(o.tmp_, {})),
      fd_(std::move(o.fd_)),
      hash_(std::move(o.hash_)),
      size_(o.size_) {}

OciStore::Writer::~Writer() { Discard(); }

void OciStore::Writer::Discard() {
  fd_.reset();
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
}

Status OciStore::Writer::Append(std::string_view bytes) {
  if (tmp_.empty()) return FailedPrecondition("blob writer is committed or failed");
  Status written = WriteAll(fd_.get(), bytes);
  if (!written.ok()) {
    Discard();
    return written.WithContext("write blob");
  }
  hash_.Update(bytes);
  size_ += bytes.size();
  return Status::Ok();
}

Result<std::string> OciStore::Writer::Commit() {
  if (tmp_.empty()) return FailedPrecondition("blob writer is committed or failed");
  std::string digest = "sha256:" + hash_.FinishHex();
  if (store_->Contains(digest)) {  // same bytes stored already: nothing to sync
    Discard();
    return digest;
  }
  if (::fdatasync(fd_.get()) != 0) {
    Status failed = ErrnoStatus(errno, "fdatasync blob " + digest);
    Discard();
    return failed;
  }
  fd_.reset();
  std::filesystem::path dest = store_->BlobPath(digest);
  if (::rename(tmp_.c_str(), dest.c_str()) != 0) {
    Status failed = ErrnoStatus(errno, "publish blob " + digest);
    Discard();
    return failed;
  }
  tmp_.clear();  // it is the blob now
  RETURN_IF_ERROR(FsyncDirectory(dest.parent_path()));
  return digest;
}

std::filesystem::path OciStore::PartialPath(std::string_view digest) const {
  std::string_view hex = digest.starts_with("sha256:") ? digest.substr(7) : digest;
  return root_ / "incomplete" / (std::string(hex) + ".part");
}

Status OciStore::AdoptPartial(std::string_view digest, uint64_t size) {
  if (!IsValidSha256Digest(digest)) return InvalidArgument("malformed digest");
  std::filesystem::path part = PartialPath(digest);
  std::error_code ec;
  uint64_t have = std::filesystem::file_size(part, ec);
  if (ec) return ErrnoStatus(ec.value(), "size of " + part.string());
  ASSIGN_OR_RETURN(std::string actual, Sha256OfFile(part));
  if (have != size || "sha256:" + actual != digest) {
    std::filesystem::remove(part, ec);
    return DataLoss("downloaded blob " + std::string(digest) + " has " + std::to_string(have) +
                    " bytes with sha256:" + actual + ", expected " + std::to_string(size) +
                    " bytes");
  }
  {
    UniqueFd fd(::open(part.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid() || ::fdatasync(fd.get()) != 0)
      return ErrnoStatus(errno, "sync " + part.string());
  }
  ::chmod(part.c_str(), 0444);
  std::filesystem::path dest = BlobPath(digest);
  if (::rename(part.c_str(), dest.c_str()) != 0) return ErrnoStatus(errno, "publish blob");
  return FsyncDirectory(dest.parent_path());
}

Result<UniqueFd> OciStore::OpenBlob(std::string_view digest) const {
  if (!IsValidSha256Digest(digest)) return InvalidArgument("malformed digest");
  std::filesystem::path p = BlobPath(digest);
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return NotFound("blob " + std::string(digest) + " is not stored");
    return ErrnoStatus(errno, "open " + p.string());
  }
  return fd;
}

Status OciStore::Remove(std::string_view digest) {
  if (!IsValidSha256Digest(digest)) return InvalidArgument("malformed digest");
  std::filesystem::path p = BlobPath(digest);
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus(errno, "remove " + p.string());
  }
  return FsyncDirectory(p.parent_path());
}

Result<std::string> OciStore::Read(std::string_view digest) const {
  if (!IsValidSha256Digest(digest)) return InvalidArgument("malformed digest");
  auto bytes = ReadFileToString(BlobPath(digest));
  if (!bytes.ok() && bytes.status().code() == StatusCode::kNotFound) {
    return NotFound("blob " + std::string(digest) + " is not stored");
  }
  return bytes;
}

}  // namespace mirrord
