// mirrorctl image export NAME:TAG -o FILE: the image as an OCI archive for an air-gapped
// host (GET /api/v1/images/NAME:TAG/archive, daemon/image_archive_handler.h), written as it
// arrives (bounded memory whatever the weights' size) to a temporary file beside FILE that
// is renamed into place only once complete, or to stdout with -o -.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/build_config.h"
#include "common/file_util.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;

// "[exporting] 1.2 GiB of 4.0 GiB  45.6 MiB/s  ETA 1m05s".
std::string ExportProgress(uint64_t done, int64_t total, double seconds) {
  std::string line = "[exporting] " + FormatBytes(done);
  if (total >= 0) line += " of " + FormatBytes(static_cast<uint64_t>(total));
  if (seconds > 0 && done > 0) {
    const double rate = static_cast<double>(done) / seconds;
    line += "  " + FormatRate(rate);
    if (total >= 0) line += "  ETA " + FormatEta((static_cast<double>(total) - done) / rate);
  }
  return line;
}

}  // namespace

Result<ImageRefArg> ParseImageRefArg(std::string_view ref) {
  const size_t colon = ref.rfind(':');
  if (colon == std::string_view::npos) {
    return InvalidArgument("expected NAME:TAG, e.g. lab/glm-4:main; got \"" + std::string(ref) +
                           "\"");
  }
  ImageRefArg out{std::string(ref.substr(0, colon)), std::string(ref.substr(colon + 1))};
  if (!IsValidImageName(out.name))
    return InvalidArgument("invalid image name \"" + out.name + "\"");
  if (!IsValidImageTag(out.tag)) return InvalidArgument("invalid image tag \"" + out.tag + "\"");
  return out;
}

int RunImageExportCommand(ApiClient& client, const ImageExportArgs& args, CommandIo& io) {
  Result<ImageRefArg> ref = ParseImageRefArg(args.ref);
  if (!ref.ok()) return ReportError(ref.error(), "image export", io);
  const bool to_stdout = args.output == "-";
  if (args.output.empty()) {
    io.err << "mirrorctl: image export: -o FILE is required (-o - for stdout)\n";
    return kExitUsage;
  }
  if (to_stdout && io.json) {
    io.err << "mirrorctl: image export: --json prints a summary on stdout; it cannot go with "
              "-o -\n";
    return kExitUsage;
  }
  if (to_stdout && io.out_is_tty) {
    io.err << "mirrorctl: image export: refusing to write an archive to a terminal; use -o FILE "
              "or redirect stdout\n";
    return kExitUsage;
  }
  // The archive goes to a temporary file beside FILE (same file system: the rename is atomic).
  const fs::path target = args.output;
  fs::path temp;
  UniqueFd fd;
  if (!to_stdout) {
    fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    std::string pattern = (dir / ("." + target.filename().string() + ".part-XXXXXX")).string();
    int raw = ::mkstemp(pattern.data());
    if (raw < 0) {
      return ReportError(ErrnoStatus(errno, "create a file in " + dir.string()), "image export",
                         io);
    }
    fd = UniqueFd(raw);
    temp = pattern;
    ::fchmod(fd.get(), 0644);
  }
  struct RemoveTemp {
    const fs::path& path;
    bool keep = false;
    ~RemoveTemp() {
      if (!keep && !path.empty()) ::unlink(path.c_str());
    }
  } cleanup{temp};

  std::ostringstream no_progress;
  ProgressDisplay display(io.json ? no_progress : io.err, io.err_is_tty && !io.json, io.clock);
  const auto started = io.clock.SteadyNow();
  uint64_t received = 0;
  int64_t announced = -1;
  Status write_error;
  const std::string path = "/api/v1/images/" + ref->name + ":" + ref->tag + "/archive";
  Result<ApiReply> reply = client.GetStream(path, [&](std::string_view data, int64_t length) {
    announced = length;
    if (to_stdout) {
      io.out.write(data.data(), static_cast<std::streamsize>(data.size()));
      if (!io.out) write_error = DataLoss("cannot write to stdout");
    } else {
      write_error = WriteAll(fd.get(), data);
    }
    if (!write_error.ok()) return false;
    received += data.size();
    const double seconds = std::chrono::duration<double>(io.clock.SteadyNow() - started).count();
    display.UpdateLine("exporting", ExportProgress(received, announced, seconds));
    return true;
  });
  display.Finish();
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "image export " + args.ref, io);
  if (!write_error.ok()) {
    return ReportError(write_error.WithContext(to_stdout ? "stdout" : temp.string()),
                       "image export", io);
  }
  if (announced >= 0 && received != static_cast<uint64_t>(announced)) {
    io.err << "mirrorctl: image export: mirrord sent " << received << " of " << announced
           << " bytes\n";
    return kExitFailed;
  }
  if (to_stdout) {
    io.out.flush();
  } else {
    if (::fsync(fd.get()) != 0) {
      return ReportError(ErrnoStatus(errno, "fsync " + temp.string()), "image export", io);
    }
    fd.reset();
    if (::rename(temp.c_str(), target.c_str()) != 0) {
      return ReportError(ErrnoStatus(errno, "rename to " + target.string()), "image export", io);
    }
    cleanup.keep = true;
  }
  const double seconds = std::chrono::duration<double>(io.clock.SteadyNow() - started).count();
  const std::string digest = reply->headers.count("mirrord-image-digest") > 0
                                 ? reply->headers.at("mirrord-image-digest")
                                 : std::string();
  if (io.json) {
    return PrintJson(io, boost::json::object{{"name", ref->name},
                                             {"tag", ref->tag},
                                             {"digest", digest},
                                             {"file", args.output},
                                             {"size", received}});
  }
  io.err << "exported " << ref->name << ":" << ref->tag << " (" << digest << ") to "
         << (to_stdout ? "stdout" : args.output) << ": " << FormatBytes(received) << " in "
         << FormatEta(seconds) << "\n";
  return kExitOk;
}

}  // namespace mirrord
