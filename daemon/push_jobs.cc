#include "daemon/push_jobs.h"

#include <algorithm>

#include "common/log.h"
#include "daemon/queue_trigger.h"
#include "deploy/image_builder.h"

namespace mirrord {
namespace {

std::string ModelTag(std::string_view tag) {
  constexpr std::string_view kSuffix = "-model";
  return std::string(tag.substr(0, 128 - kSuffix.size())) + std::string(kSuffix);
}

const BuildRecipe* FindRecipe(const Config& config, std::string_view name) {
  for (const BuildRecipe& r : config.builds) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

}  // namespace

PushRunRecord PlanPush(const PushTarget& target, std::string_view image,
                       const std::vector<std::string>& image_tags, std::string_view ref,
                       std::string_view commit, bool with_model) {
  PushRunRecord p;
  p.image = std::string(image);
  p.registry = target.registry;
  p.repository = target.RepositoryFor(image);
  if (target.tags.empty()) {
    p.tags = image_tags;
  } else {
    for (const std::string& t : target.tags) {
      std::string tag = ExpandTagTemplate(t, ref, commit);
      if (std::find(p.tags.begin(), p.tags.end(), tag) == p.tags.end()) p.tags.push_back(tag);
    }
  }
  if (with_model) {
    for (const std::string& t : p.tags) p.model_tags.push_back(ModelTag(t));
  }
  return p;
}

std::string RegistryHost(std::string_view url) {
  if (size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
  }
  return std::string(url.substr(0, url.find('/')));
}

PushJobs::PushJobs(const LiveConfig& config, Catalog& catalog, JobQueue& queue, const Clock& clock,
                   std::function<void()> wake)
    : config_(config), catalog_(catalog), queue_(queue), clock_(clock), wake_(std::move(wake)) {}

int64_t PushJobs::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

Result<QueuedPush> PushJobs::Request(std::string_view name, std::string_view tag,
                                     std::string_view registry, std::string_view trigger,
                                     JobPriority priority) {
  const std::shared_ptr<const Config> config = config_.Get();
  auto reg = config->registries.find(std::string(registry));
  if (reg == config->registries.end()) {
    return NotFound("no [registries." + std::string(registry) + "] is configured");
  }
  ASSIGN_OR_RETURN(ImageRecord image, catalog_.GetImage(name, tag));
  const BuildRecipe* recipe = FindRecipe(*config, image.build);
  if (recipe == nullptr) {
    return FailedPrecondition("image " + image.name + ":" + image.tag + " was built by recipe \"" +
                              image.build + "\", which is no longer in [[builds]]");
  }
  PushTarget target;
  target.registry = std::string(registry);
  target.repository = "{name}";
  for (const PushTarget& t : recipe->push) {
    if (t.registry == registry) target.repository = t.repository;
  }
  PushRunRecord push = PlanPush(target, image.name, {image.tag}, image.ref, image.commit, false);
  push.digest = image.digest;
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(recipe->repo));
  return Queue(repo.id, recipe->repo, push, reg->second.url, trigger, priority);
}

std::vector<QueuedPush> PushJobs::OnBuilt(const BuildRecipe& recipe, const BuildRunRecord& built,
                                          std::string_view trigger) {
  std::vector<QueuedPush> out;
  if (recipe.push.empty() || built.image_digest.empty()) return out;
  const std::shared_ptr<const Config> config = config_.Get();
  Result<RepoRecord> repo = catalog_.GetRepo(recipe.repo);
  if (!repo.ok()) {
    MLOG(Error) << "push after build " << recipe.name << ": " << repo.status().ToString();
    return out;
  }
  for (const PushTarget& target : recipe.push) {
    auto reg = config->registries.find(target.registry);
    if (reg == config->registries.end()) {
      MLOG(Error) << "push after build " << recipe.name << ": [registries." << target.registry
                  << "] is not configured any more";
      continue;
    }
    PushRunRecord push = PlanPush(target, recipe.name, built.tags, built.ref, built.commit,
                                  !built.model_digest.empty());
    push.digest = built.image_digest;
    push.model_digest = built.model_digest;
    Result<QueuedPush> queued =
        Queue(repo->id, recipe.repo, push, reg->second.url, trigger, JobPriority::kWebhook);
    if (!queued.ok()) {
      MLOG(Error) << "cannot queue push of " << recipe.name << " to " << target.registry << ": "
                  << queued.status().ToString();
      continue;
    }
    MLOG(Info) << (queued->coalesced ? "push already queued: " : "queued push of ") << recipe.name
               << "@" << push.digest << " to " << target.registry << "/" << push.repository
               << " (run " << queued->run_id << ")";
    out.push_back(std::move(*queued));
  }
  return out;
}

Result<QueuedPush> PushJobs::Queue(int64_t repo_id, std::string_view repo,
                                   const PushRunRecord& push, std::string_view registry_url,
                                   std::string_view trigger, JobPriority priority) {
  QueuedJob job;
  job.kind = JobKind::kPush;
  job.repo = std::string(repo);
  job.build = push.image + "@" + push.digest;
  job.ref = push.registry;
  job.commit = push.digest;
  job.trigger = std::string(trigger);
  job.priority = static_cast<int>(priority);
  job.queued_at_ms = NowMs();
  job.host = RegistryHost(registry_url);
  const int64_t queued_at = job.queued_at_ms / 1000;
  ASSIGN_OR_RETURN(EnqueueResult queued, QueueTrigger(queue_, catalog_, std::move(job), [&] {
                     return catalog_.InsertPushRun(repo_id, trigger, queued_at, push);
                   }));
  if (queued.coalesced) {
    PushRunRecord more = push;
    more.run_id = queued.job.run_id;
    if (Status s = catalog_.AddPushTags(more); !s.ok()) {
      MLOG(Warning) << "push run " << more.run_id << ": " << s.ToString();
    }
  }
  QueuedPush out;
  out.run_id = queued.job.run_id;
  out.image = push.image;
  out.digest = push.digest;
  out.registry = push.registry;
  out.repository = push.repository;
  out.tags = push.tags;
  out.coalesced = queued.coalesced;
  if (wake_) wake_();
  return out;
}

}  // namespace mirrord
