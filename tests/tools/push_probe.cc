// push_probe: drives the registry client of deploy/ without the daemon, for
// bench/push_bench.sh.
//
//   push_probe build STORE MIRROR NAME OBJECT...
//       opens (creating) the stores under STORE (lfs/, oci/, catalog.sqlite), imports each
//       OBJECT file (named by its SHA-256, as in the bench's LFS cache) into the LFS store,
//       builds image NAME from MIRROR's refs/heads/main (base scratch, no preflight) and
//       prints "IMAGE_DIGEST MODEL_DIGEST".
//   push_probe push STORE NAME DIGEST URL REPOSITORY TAG
//       pushes manifest DIGEST of image NAME to URL (plain http allowed) as REPOSITORY:TAG
//       and prints "seconds bytes_sent uploaded skipped mounted resumed".
// Exit 0 on success, 1 with the error on stderr.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "deploy/image_builder.h"
#include "deploy/registry_pusher.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;

struct Stores {
  std::unique_ptr<BlobStore> lfs;
  std::unique_ptr<OciStore> oci;
  std::unique_ptr<Catalog> catalog;
};

Result<Stores> Open(const fs::path& root) {
  RETURN_IF_ERROR(CreateDirectories(root));
  Stores s;
  ASSIGN_OR_RETURN(s.lfs, BlobStore::Open(root / "lfs"));
  ASSIGN_OR_RETURN(s.oci, OciStore::Open(root / "oci"));
  ASSIGN_OR_RETURN(s.catalog, Catalog::Open(root / "catalog.sqlite"));
  return s;
}

Status Import(BlobStore& lfs, const fs::path& file) {
  std::string oid = file.filename().string();
  if (lfs.Contains(oid)) return Status::Ok();
  std::error_code ec;
  uint64_t size = fs::file_size(file, ec);
  if (ec) return NotFound("cannot stat " + file.string());
  ASSIGN_OR_RETURN(auto partial, lfs.OpenPartial(oid, size));
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open " + file.string());
  std::string buf(8 << 20, '\0');
  uint64_t off = 0;
  while (off < size) {
    ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(off));
    if (n <= 0) return DataLoss("short read of " + file.string());
    RETURN_IF_ERROR(partial->WriteAt(off, std::string_view(buf.data(), static_cast<size_t>(n))));
    off += static_cast<uint64_t>(n);
  }
  RETURN_IF_ERROR(partial->CommitRange({0, size}));
  return partial->Publish();
}

Status Build(const std::vector<std::string>& args) {
  if (args.size() < 4) return InvalidArgument("build STORE MIRROR NAME OBJECT...");
  ASSIGN_OR_RETURN(Stores s, Open(args[0]));
  for (size_t i = 3; i < args.size(); ++i) RETURN_IF_ERROR(Import(*s.lfs, args[i]));
  BuildRecipe recipe;
  recipe.name = args[2];
  recipe.repo = "bench/model";
  recipe.preflight = false;
  BuildInputs in;
  in.repo = "bench/model";
  in.mirror_dir = args[1];
  in.upstream_url = "https://example.invalid/bench/model";
  in.ref = "refs/heads/main";
  ASSIGN_OR_RETURN(BuildOutcome out,
                   BuildImage(recipe, in, {*s.lfs, *s.oci, *s.catalog}, std::time(nullptr)));
  std::cout << out.image.digest << " " << out.model.digest << "\n";
  return Status::Ok();
}

Status Push(const std::vector<std::string>& args) {
  if (args.size() != 6) return InvalidArgument("push STORE NAME DIGEST URL REPOSITORY TAG");
  ASSIGN_OR_RETURN(Stores s, Open(args[0]));
  auto pusher = MakeRegistryPusher(*s.catalog, *s.lfs, *s.oci);
  RegistryTarget target;
  target.name = "bench";
  target.url = args[3];
  target.insecure = true;
  PushRequest request{args[1], args[2], args[4], {args[5]}};
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(PushReport r, pusher->Push(target, request, {}, nullptr));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%.3f %llu %zu %zu %zu %zu\n", secs, static_cast<unsigned long long>(r.bytes_sent),
              r.blobs_uploaded, r.blobs_skipped, r.blobs_mounted, r.uploads_resumed);
  return Status::Ok();
}

}  // namespace
}  // namespace mirrord

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "usage: push_probe build|push ...\n";
    return 1;
  }
  std::string cmd = args.front();
  args.erase(args.begin());
  mirrord::Status s = cmd == "build"  ? mirrord::Build(args)
                      : cmd == "push" ? mirrord::Push(args)
                                      : mirrord::InvalidArgument("unknown command " + cmd);
  if (!s.ok()) {
    std::cerr << "push_probe: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}
