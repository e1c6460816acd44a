// The catalog's half of lease fencing (see daemon/job_runner.h for the whole): every repo
// row keeps the highest fencing token (storage/job_queue.h QueuedJob::fence) that a write to
// the repo's sync state has carried. A write carrying a lower token comes from a node whose
// lease was taken over: it is refused in the same SQLite transaction that would have made
// it, so a stale node can never change what the catalog says about the repo.
// Token 0 means "not fenced" (a write made outside any lease: tools, tests, recovery).
// Thread-safety: none of its own; call inside the caller's transaction on the caller's Db.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "storage/sqlite.h"

namespace mirrord {

// Cancelled (with the tokens in the message) when repo `repo_id`'s fence is above `token`;
// otherwise raises the fence to `token` and returns OK. NotFound for an unknown repo.
// Token 0: OK without reading or writing anything.
Status AdvanceRepoFence(Db& db, int64_t repo_id, int64_t token);

// Raises repo `repo_id`'s fence to at least `floor` (never lowers it, never refuses): what
// a node taking a lost lease back into the queue records, so that the lost owner's writes
// are refused before the next owner even starts. An unknown repo is left alone.
Status RaiseRepoFence(Db& db, int64_t repo_id, int64_t floor);

// Like AdvanceRepoFence, but only reads: Cancelled when the fence is above `token`.
Status CheckRepoFence(Db& db, int64_t repo_id, int64_t token);

// The repo of sync run `run_id`; NotFound for an unknown run.
Result<int64_t> RepoOfRun(Db& db, int64_t run_id);

}  // namespace mirrord
