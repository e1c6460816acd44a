#include "common/api_json.h"

#include <boost/json/error.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <limits>
#include <type_traits>

namespace mirrord {
namespace json = boost::json;
namespace {

// Reads the members of one JSON object; `where` prefixes field names in errors
// ("last_run.progress.").
class ObjectReader {
 public:
  static Result<ObjectReader> Open(const json::value& jv, std::string where) {
    if (!jv.is_object()) {
      std::string what = where.empty()
                             ? "expected a JSON object"
                             : where.substr(0, where.size() - 1) + ": expected a JSON object";
      return InvalidArgument(std::move(what));
    }
    return ObjectReader(jv.get_object(), std::move(where));
  }

  const json::value* Find(std::string_view key) const {
    const json::value* v = obj_->if_contains(key);
    return (v == nullptr || v->is_null()) ? nullptr : v;
  }

  std::string Path(std::string_view key) const { return where_ + std::string(key); }

  Status Error(std::string_view key, std::string_view what) const {
    return InvalidArgument(Path(key) + ": " + std::string(what));
  }

  Status String(std::string_view key, std::string* out) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return Error(key, "expected a string");
    *out = std::string(v->get_string());
    return Status::Ok();
  }

  // Integers of any JSON number form as long as the value fits exactly in T.
  template <typename T>
  Status Integer(std::string_view key, T* out) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Status::Ok();
    boost::system::error_code ec;
    T n = v->is_number() ? v->to_number<T>(ec) : T{};
    if (!v->is_number() || ec) {
      return Error(key,
                   std::is_signed_v<T> ? "expected an integer" : "expected a non-negative integer");
    }
    *out = n;
    return Status::Ok();
  }

  Status Bool(std::string_view key, bool* out) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_bool()) return Error(key, "expected true or false");
    *out = v->get_bool();
    return Status::Ok();
  }

  Status Double(std::string_view key, double* out) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Status::Ok();
    boost::system::error_code ec;
    double d = v->is_number() ? v->to_number<double>(ec) : 0;
    if (!v->is_number() || ec) return Error(key, "expected a number");
    *out = d;
    return Status::Ok();
  }

 private:
  ObjectReader(const json::object& obj, std::string where) : obj_(&obj), where_(std::move(where)) {}

  const json::object* obj_;
  std::string where_;
};

Result<SyncProgress> DecodeProgress(const json::value& jv, const std::string& where) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, where));
  SyncProgress p;
  RETURN_IF_ERROR(r.String("phase", &p.phase));
  RETURN_IF_ERROR(r.Integer("received_objects", &p.received_objects));
  RETURN_IF_ERROR(r.Integer("total_objects", &p.total_objects));
  RETURN_IF_ERROR(r.Integer("indexed_objects", &p.indexed_objects));
  RETURN_IF_ERROR(r.Integer("received_bytes", &p.received_bytes));
  RETURN_IF_ERROR(r.Double("bytes_per_second", &p.bytes_per_second));
  RETURN_IF_ERROR(r.Integer("lfs_objects_total", &p.lfs_objects_total));
  RETURN_IF_ERROR(r.Integer("lfs_objects_done", &p.lfs_objects_done));
  RETURN_IF_ERROR(r.Integer("lfs_bytes_total", &p.lfs_bytes_total));
  RETURN_IF_ERROR(r.Integer("lfs_bytes_done", &p.lfs_bytes_done));
  RETURN_IF_ERROR(r.Double("lfs_bytes_per_second", &p.lfs_bytes_per_second));
  return p;
}

Result<RunFailure> DecodeFailure(const json::value& jv, const std::string& where) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, where));
  RunFailure f;
  std::string phase;
  RETURN_IF_ERROR(r.String("phase", &phase));
  std::optional<FailurePhase> parsed = FailurePhaseFromName(phase);
  if (!parsed) return InvalidArgument(r.Path("phase") + ": unknown phase");
  f.phase = *parsed;
  RETURN_IF_ERROR(r.String("code", &f.code));
  RETURN_IF_ERROR(r.Bool("retryable", &f.retryable));
  if (r.Find("retry_after_seconds") != nullptr) {
    int64_t seconds = 0;
    RETURN_IF_ERROR(r.Integer("retry_after_seconds", &seconds));
    f.retry_after_seconds = seconds;
  }
  return f;
}

// A run's typed failure, or null.
json::value EncodeFailure(const std::optional<RunFailure>& failure) {
  if (!failure) return nullptr;
  json::object f{{"phase", FailurePhaseName(failure->phase)},
                 {"code", failure->code},
                 {"retryable", failure->retryable},
                 {"retry_after_seconds", nullptr}};
  if (failure->retry_after_seconds) f["retry_after_seconds"] = *failure->retry_after_seconds;
  return f;
}

Result<SyncRunView> DecodeRun(const json::value& jv, const std::string& where) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, where));
  SyncRunView v;
  RETURN_IF_ERROR(r.Integer("run_id", &v.run_id));
  RETURN_IF_ERROR(r.String("repo", &v.repo));
  RETURN_IF_ERROR(r.String("trigger", &v.trigger));
  RETURN_IF_ERROR(r.String("state", &v.state));
  RETURN_IF_ERROR(r.String("error", &v.error));
  if (const json::value* f = r.Find("failure")) {
    ASSIGN_OR_RETURN(v.failure, DecodeFailure(*f, r.Path("failure") + "."));
  }
  if (const json::value* p = r.Find("progress")) {
    ASSIGN_OR_RETURN(v.progress, DecodeProgress(*p, r.Path("progress") + "."));
  }
  RETURN_IF_ERROR(r.Integer("refs_added", &v.refs_added));
  RETURN_IF_ERROR(r.Integer("refs_updated", &v.refs_updated));
  RETURN_IF_ERROR(r.Integer("refs_deleted", &v.refs_deleted));
  RETURN_IF_ERROR(r.Integer("lfs_objects", &v.lfs_objects));
  RETURN_IF_ERROR(r.Integer("lfs_objects_fetched", &v.lfs_objects_fetched));
  RETURN_IF_ERROR(r.Integer("lfs_bytes", &v.lfs_bytes));
  RETURN_IF_ERROR(r.Integer("lfs_bytes_fetched", &v.lfs_bytes_fetched));
  RETURN_IF_ERROR(r.Integer("attempt", &v.attempt));
  RETURN_IF_ERROR(r.Integer("queued_at", &v.queued_at));
  RETURN_IF_ERROR(r.Integer("started_at", &v.started_at));
  RETURN_IF_ERROR(r.Integer("finished_at", &v.finished_at));
  return v;
}

// Maps a decoding failure onto the customisation point's error_code form.
template <typename T>
json::result<T> ToJsonResult(Result<T> r) {
  if (r.ok()) return std::move(r).value();
  return boost::system::error_code(json::error::not_object);
}

}  // namespace

void tag_invoke(const json::value_from_tag&, json::value& jv, const RepoSpec& v) {
  jv = json::object{{"name", v.name}, {"upstream", v.upstream}, {"path", v.path}, {"url", v.url}};
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const SyncProgress& v) {
  jv = json::object{{"phase", v.phase},
                    {"received_objects", v.received_objects},
                    {"total_objects", v.total_objects},
                    {"indexed_objects", v.indexed_objects},
                    {"received_bytes", v.received_bytes},
                    {"bytes_per_second", v.bytes_per_second},
                    {"lfs_objects_total", v.lfs_objects_total},
                    {"lfs_objects_done", v.lfs_objects_done},
                    {"lfs_bytes_total", v.lfs_bytes_total},
                    {"lfs_bytes_done", v.lfs_bytes_done},
                    {"lfs_bytes_per_second", v.lfs_bytes_per_second}};
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const SyncRunView& v) {
  jv = json::object{{"run_id", v.run_id},
                    {"repo", v.repo},
                    {"trigger", v.trigger},
                    {"state", v.state},
                    {"error", v.error},
                    {"failure", EncodeFailure(v.failure)},
                    {"progress", json::value_from(v.progress)},
                    {"refs_added", v.refs_added},
                    {"refs_updated", v.refs_updated},
                    {"refs_deleted", v.refs_deleted},
                    {"lfs_objects", v.lfs_objects},
                    {"lfs_objects_fetched", v.lfs_objects_fetched},
                    {"lfs_bytes", v.lfs_bytes},
                    {"lfs_bytes_fetched", v.lfs_bytes_fetched},
                    {"attempt", v.attempt},
                    {"queued_at", v.queued_at},
                    {"started_at", v.started_at},
                    {"finished_at", v.finished_at}};
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const RepoStatus& v) {
  auto run = [](const std::optional<SyncRunView>& r) {
    return r ? json::value_from(*r) : json::value(nullptr);
  };
  jv = json::object{{"name", v.name},
                    {"upstream", v.upstream},
                    {"url", v.url},
                    {"state", v.state},
                    {"last_run", run(v.last_run)},
                    {"active_run", run(v.active_run)},
                    {"last_success_at", v.last_success_at},
                    {"last_failure", run(v.last_failure)},
                    {"last_failure_at", v.last_failure_at},
                    {"ref_count", static_cast<uint64_t>(v.ref_count)},
                    {"head", v.head},
                    {"lfs_objects", v.lfs_objects},
                    {"lfs_logical_bytes", v.lfs_logical_bytes},
                    {"lfs_present_objects", v.lfs_present_objects},
                    {"lfs_present_bytes", v.lfs_present_bytes},
                    {"lfs_failed_objects", v.lfs_failed_objects},
                    {"store_physical_bytes", v.store_physical_bytes},
                    {"next_attempt_at", v.next_attempt_at},
                    {"next_attempt", v.next_attempt},
                    {"upstream_event", v.upstream_event},
                    {"upstream_event_at", v.upstream_event_at}};
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const QueueView& v) {
  json::array jobs;
  for (const QueueJobView& j : v.jobs) {
    jobs.push_back(json::object{{"run_id", j.run_id},
                                {"kind", j.kind},
                                {"repo", j.repo},
                                {"build", j.build},
                                {"ref", j.ref},
                                {"trigger", j.trigger},
                                {"state", j.state},
                                {"attempt", j.attempt},
                                {"node", j.node},
                                {"host", j.host},
                                {"queued_at", j.queued_at},
                                {"not_before", j.not_before}});
  }
  json::array paused;
  for (const PausedHostView& p : v.paused_hosts) {
    paused.push_back(json::object{{"host", p.host}, {"until", p.until}, {"reason", p.reason}});
  }
  jv = json::object{{"jobs", std::move(jobs)}, {"paused_hosts", std::move(paused)}};
}

Result<QueueView> QueueViewFromJson(const json::value& jv) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, ""));
  QueueView v;
  auto array = [&](std::string_view key) -> Result<const json::array*> {
    const json::value* a = r.Find(key);
    if (a == nullptr) return static_cast<const json::array*>(nullptr);
    if (!a->is_array()) return r.Error(key, "expected an array");
    return &a->as_array();
  };
  ASSIGN_OR_RETURN(const json::array* jobs, array("jobs"));
  for (size_t i = 0; jobs != nullptr && i < jobs->size(); ++i) {
    std::string prefix = "jobs[" + std::to_string(i) + "].";
    ASSIGN_OR_RETURN(ObjectReader j, ObjectReader::Open((*jobs)[i], prefix));
    QueueJobView job;
    RETURN_IF_ERROR(j.Integer("run_id", &job.run_id));
    RETURN_IF_ERROR(j.String("kind", &job.kind));
    if (job.kind.empty()) job.kind = "sync";
    RETURN_IF_ERROR(j.String("repo", &job.repo));
    RETURN_IF_ERROR(j.String("build", &job.build));
    RETURN_IF_ERROR(j.String("ref", &job.ref));
    RETURN_IF_ERROR(j.String("trigger", &job.trigger));
    RETURN_IF_ERROR(j.String("state", &job.state));
    RETURN_IF_ERROR(j.Integer("attempt", &job.attempt));
    RETURN_IF_ERROR(j.String("node", &job.node));
    RETURN_IF_ERROR(j.String("host", &job.host));
    RETURN_IF_ERROR(j.Integer("queued_at", &job.queued_at));
    RETURN_IF_ERROR(j.Integer("not_before", &job.not_before));
    v.jobs.push_back(std::move(job));
  }
  ASSIGN_OR_RETURN(const json::array* paused, array("paused_hosts"));
  for (size_t i = 0; paused != nullptr && i < paused->size(); ++i) {
    std::string prefix = "paused_hosts[" + std::to_string(i) + "].";
    ASSIGN_OR_RETURN(ObjectReader p, ObjectReader::Open((*paused)[i], prefix));
    PausedHostView host;
    RETURN_IF_ERROR(p.String("host", &host.host));
    RETURN_IF_ERROR(p.Integer("until", &host.until));
    RETURN_IF_ERROR(p.String("reason", &host.reason));
    v.paused_hosts.push_back(std::move(host));
  }
  return v;
}

Result<RepoSpec> RepoSpecFromJson(const json::value& jv) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, ""));
  RepoSpec s;
  RETURN_IF_ERROR(r.String("name", &s.name));
  RETURN_IF_ERROR(r.String("upstream", &s.upstream));
  RETURN_IF_ERROR(r.String("path", &s.path));
  RETURN_IF_ERROR(r.String("url", &s.url));
  return s;
}

Result<SyncProgress> SyncProgressFromJson(const json::value& jv) { return DecodeProgress(jv, ""); }

Result<SyncRunView> SyncRunViewFromJson(const json::value& jv) { return DecodeRun(jv, ""); }

Result<RepoStatus> RepoStatusFromJson(const json::value& jv) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, ""));
  RepoStatus s;
  RETURN_IF_ERROR(r.String("name", &s.name));
  RETURN_IF_ERROR(r.String("upstream", &s.upstream));
  RETURN_IF_ERROR(r.String("url", &s.url));
  RETURN_IF_ERROR(r.String("state", &s.state));
  if (const json::value* v = r.Find("last_run")) {
    ASSIGN_OR_RETURN(s.last_run, DecodeRun(*v, "last_run."));
  }
  if (const json::value* v = r.Find("active_run")) {
    ASSIGN_OR_RETURN(s.active_run, DecodeRun(*v, "active_run."));
  }
  RETURN_IF_ERROR(r.Integer("last_success_at", &s.last_success_at));
  if (const json::value* v = r.Find("last_failure")) {
    ASSIGN_OR_RETURN(s.last_failure, DecodeRun(*v, "last_failure."));
  }
  RETURN_IF_ERROR(r.Integer("last_failure_at", &s.last_failure_at));
  uint64_t ref_count = 0;
  RETURN_IF_ERROR(r.Integer("ref_count", &ref_count));
  if (ref_count > std::numeric_limits<size_t>::max()) {
    return r.Error("ref_count", "out of range");
  }
  s.ref_count = static_cast<size_t>(ref_count);
  RETURN_IF_ERROR(r.String("head", &s.head));
  RETURN_IF_ERROR(r.Integer("lfs_objects", &s.lfs_objects));
  RETURN_IF_ERROR(r.Integer("lfs_logical_bytes", &s.lfs_logical_bytes));
  RETURN_IF_ERROR(r.Integer("lfs_present_objects", &s.lfs_present_objects));
  RETURN_IF_ERROR(r.Integer("lfs_present_bytes", &s.lfs_present_bytes));
  RETURN_IF_ERROR(r.Integer("lfs_failed_objects", &s.lfs_failed_objects));
  RETURN_IF_ERROR(r.Integer("store_physical_bytes", &s.store_physical_bytes));
  RETURN_IF_ERROR(r.Integer("next_attempt_at", &s.next_attempt_at));
  RETURN_IF_ERROR(r.String("next_attempt", &s.next_attempt));
  RETURN_IF_ERROR(r.String("upstream_event", &s.upstream_event));
  RETURN_IF_ERROR(r.Integer("upstream_event_at", &s.upstream_event_at));
  return s;
}

json::result<RepoSpec> tag_invoke(const json::try_value_to_tag<RepoSpec>&, const json::value& jv) {
  return ToJsonResult(RepoSpecFromJson(jv));
}
json::result<SyncProgress> tag_invoke(const json::try_value_to_tag<SyncProgress>&,
                                      const json::value& jv) {
  return ToJsonResult(SyncProgressFromJson(jv));
}
json::result<SyncRunView> tag_invoke(const json::try_value_to_tag<SyncRunView>&,
                                     const json::value& jv) {
  return ToJsonResult(SyncRunViewFromJson(jv));
}
json::result<RepoStatus> tag_invoke(const json::try_value_to_tag<RepoStatus>&,
                                    const json::value& jv) {
  return ToJsonResult(RepoStatusFromJson(jv));
}

Result<json::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  json::parser p;
  size_t used = p.write(text.data(), text.size(), ec);
  if (ec) {
    return InvalidArgument("invalid JSON at offset " + std::to_string(used) + ": " + ec.message());
  }
  return p.release();
}

std::string ErrorJson(const Status& status) {
  return json::serialize(
      json::object{{"error", json::object{{"code", StatusCodeName(status.code())},
                                          {"message", status.message()}}}});
}

bool StatusCodeFromName(std::string_view name, StatusCode* out) {
  for (int i = static_cast<int>(StatusCode::kOk); i <= static_cast<int>(StatusCode::kInternal);
       ++i) {
    auto code = static_cast<StatusCode>(i);
    if (StatusCodeName(code) == name) {
      *out = code;
      return true;
    }
  }
  return false;
}

std::optional<Status> StatusFromErrorJson(const json::value& jv) {
  const json::object* top = jv.if_object();
  const json::value* err = top ? top->if_contains("error") : nullptr;
  const json::object* obj = err ? err->if_object() : nullptr;
  if (obj == nullptr) return std::nullopt;
  std::string code_name, message;
  if (const json::value* c = obj->if_contains("code"); c && c->is_string()) {
    code_name = std::string(c->get_string());
  }
  if (const json::value* m = obj->if_contains("message"); m && m->is_string()) {
    message = std::string(m->get_string());
  }
  StatusCode code = StatusCode::kInternal;
  if (!StatusCodeFromName(code_name, &code) || code == StatusCode::kOk) {
    code = StatusCode::kInternal;
  }
  if (message.empty()) message = code_name.empty() ? "unknown error" : code_name;
  return Status(code, std::move(message));
}

void tag_invoke(const json::value_from_tag&, json::value& jv, const BuildRunView& v) {
  json::array tags;
  for (const std::string& t : v.tags) tags.emplace_back(t);
  jv = json::object{{"run_id", v.run_id},
                    {"build", v.build},
                    {"repo", v.repo},
                    {"ref", v.ref},
                    {"commit", v.commit},
                    {"trigger", v.trigger},
                    {"state", v.state},
                    {"error", v.error},
                    {"failure", EncodeFailure(v.failure)},
                    {"attempt", v.attempt},
                    {"phase", v.phase},
                    {"layers_total", v.layers_total},
                    {"layers_done", v.layers_done},
                    {"bytes_total", v.bytes_total},
                    {"bytes_done", v.bytes_done},
                    {"hashed_layers", v.hashed_layers},
                    {"image_digest", v.image_digest},
                    {"image_size", v.image_size},
                    {"model_digest", v.model_digest},
                    {"model_size", v.model_size},
                    {"tags", std::move(tags)},
                    {"layers", v.layers},
                    {"queued_at", v.queued_at},
                    {"started_at", v.started_at},
                    {"finished_at", v.finished_at}};
}

Result<BuildRunView> BuildRunViewFromJson(const json::value& jv) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, ""));
  BuildRunView v;
  RETURN_IF_ERROR(r.Integer("run_id", &v.run_id));
  RETURN_IF_ERROR(r.String("build", &v.build));
  RETURN_IF_ERROR(r.String("repo", &v.repo));
  RETURN_IF_ERROR(r.String("ref", &v.ref));
  RETURN_IF_ERROR(r.String("commit", &v.commit));
  RETURN_IF_ERROR(r.String("trigger", &v.trigger));
  RETURN_IF_ERROR(r.String("state", &v.state));
  RETURN_IF_ERROR(r.String("error", &v.error));
  if (const json::value* f = r.Find("failure"); f != nullptr && !f->is_null()) {
    ASSIGN_OR_RETURN(v.failure, DecodeFailure(*f, r.Path("failure") + "."));
  }
  RETURN_IF_ERROR(r.Integer("attempt", &v.attempt));
  RETURN_IF_ERROR(r.String("phase", &v.phase));
  RETURN_IF_ERROR(r.Integer("layers_total", &v.layers_total));
  RETURN_IF_ERROR(r.Integer("layers_done", &v.layers_done));
  RETURN_IF_ERROR(r.Integer("bytes_total", &v.bytes_total));
  RETURN_IF_ERROR(r.Integer("bytes_done", &v.bytes_done));
  RETURN_IF_ERROR(r.Integer("hashed_layers", &v.hashed_layers));
  RETURN_IF_ERROR(r.String("image_digest", &v.image_digest));
  RETURN_IF_ERROR(r.Integer("image_size", &v.image_size));
  RETURN_IF_ERROR(r.String("model_digest", &v.model_digest));
  RETURN_IF_ERROR(r.Integer("model_size", &v.model_size));
  if (const json::value* t = r.Find("tags"); t != nullptr && !t->is_null()) {
    if (!t->is_array()) return r.Error("tags", "expected an array");
    for (const json::value& tag : t->as_array()) {
      if (!tag.is_string()) return r.Error("tags", "expected strings");
      v.tags.emplace_back(tag.as_string());
    }
  }
  RETURN_IF_ERROR(r.Integer("layers", &v.layers));
  RETURN_IF_ERROR(r.Integer("queued_at", &v.queued_at));
  RETURN_IF_ERROR(r.Integer("started_at", &v.started_at));
  RETURN_IF_ERROR(r.Integer("finished_at", &v.finished_at));
  return v;
}

namespace {

json::array StringArray(const std::vector<std::string>& v) {
  json::array out;
  for (const std::string& s : v) out.emplace_back(s);
  return out;
}

Status ReadStringArray(ObjectReader& r, std::string_view key, std::vector<std::string>* out) {
  const json::value* t = r.Find(key);
  if (t == nullptr || t->is_null()) return Status::Ok();
  if (!t->is_array()) return r.Error(key, "expected an array");
  for (const json::value& e : t->as_array()) {
    if (!e.is_string()) return r.Error(key, "expected strings");
    out->emplace_back(e.as_string());
  }
  return Status::Ok();
}

}  // namespace

void tag_invoke(const json::value_from_tag&, json::value& jv, const PushRunView& v) {
  jv = json::object{{"run_id", v.run_id},
                    {"image", v.image},
                    {"digest", v.digest},
                    {"model_digest", v.model_digest},
                    {"registry", v.registry},
                    {"repository", v.repository},
                    {"tags", StringArray(v.tags)},
                    {"model_tags", StringArray(v.model_tags)},
                    {"repo", v.repo},
                    {"trigger", v.trigger},
                    {"state", v.state},
                    {"error", v.error},
                    {"failure", EncodeFailure(v.failure)},
                    {"attempt", v.attempt},
                    {"bytes_total", v.bytes_total},
                    {"bytes_sent", v.bytes_sent},
                    {"blobs_total", v.blobs_total},
                    {"blobs_done", v.blobs_done},
                    {"blob", v.blob},
                    {"blobs_skipped", v.blobs_skipped},
                    {"blobs_mounted", v.blobs_mounted},
                    {"blobs_uploaded", v.blobs_uploaded},
                    {"uploads_resumed", v.uploads_resumed},
                    {"duration_ms", v.duration_ms},
                    {"queued_at", v.queued_at},
                    {"started_at", v.started_at},
                    {"finished_at", v.finished_at}};
}

Result<PushRunView> PushRunViewFromJson(const json::value& jv) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, ""));
  PushRunView v;
  RETURN_IF_ERROR(r.Integer("run_id", &v.run_id));
  RETURN_IF_ERROR(r.String("image", &v.image));
  RETURN_IF_ERROR(r.String("digest", &v.digest));
  RETURN_IF_ERROR(r.String("model_digest", &v.model_digest));
  RETURN_IF_ERROR(r.String("registry", &v.registry));
  RETURN_IF_ERROR(r.String("repository", &v.repository));
  RETURN_IF_ERROR(ReadStringArray(r, "tags", &v.tags));
  RETURN_IF_ERROR(ReadStringArray(r, "model_tags", &v.model_tags));
  RETURN_IF_ERROR(r.String("repo", &v.repo));
  RETURN_IF_ERROR(r.String("trigger", &v.trigger));
  RETURN_IF_ERROR(r.String("state", &v.state));
  RETURN_IF_ERROR(r.String("error", &v.error));
  if (const json::value* f = r.Find("failure"); f != nullptr && !f->is_null()) {
    ASSIGN_OR_RETURN(v.failure, DecodeFailure(*f, r.Path("failure") + "."));
  }
  RETURN_IF_ERROR(r.Integer("attempt", &v.attempt));
  RETURN_IF_ERROR(r.Integer("bytes_total", &v.bytes_total));
  RETURN_IF_ERROR(r.Integer("bytes_sent", &v.bytes_sent));
  RETURN_IF_ERROR(r.Integer("blobs_total", &v.blobs_total));
  RETURN_IF_ERROR(r.Integer("blobs_done", &v.blobs_done));
  RETURN_IF_ERROR(r.String("blob", &v.blob));
  RETURN_IF_ERROR(r.Integer("blobs_skipped", &v.blobs_skipped));
  RETURN_IF_ERROR(r.Integer("blobs_mounted", &v.blobs_mounted));
  RETURN_IF_ERROR(r.Integer("blobs_uploaded", &v.blobs_uploaded));
  RETURN_IF_ERROR(r.Integer("uploads_resumed", &v.uploads_resumed));
  RETURN_IF_ERROR(r.Integer("duration_ms", &v.duration_ms));
  RETURN_IF_ERROR(r.Integer("queued_at", &v.queued_at));
  RETURN_IF_ERROR(r.Integer("started_at", &v.started_at));
  RETURN_IF_ERROR(r.Integer("finished_at", &v.finished_at));
  return v;
}

}  // namespace mirrord
