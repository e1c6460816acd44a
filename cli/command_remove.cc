// mirrorctl remove NAME
#include "cli/commands.h"
#include "common/repo_name.h"

namespace mirrord {

int RunRemoveCommand(ApiClient& client, const RemoveArgs& args, CommandIo& io) {
  Result<std::string> name = ValidateRepoName(args.name);
  if (!name.ok()) {
    io.err << "mirrorctl: " << name.error().message() << "\n";
    return kExitUsage;
  }
  Result<ApiReply> reply = client.Delete(RepoApiPath(*name));
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "cannot remove " + *name, io);
  io.out << "removed " << *name << "\n";
  return kExitOk;
}

}  // namespace mirrord
