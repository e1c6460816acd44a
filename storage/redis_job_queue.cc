#include "storage/redis_job_queue.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cstdint>

namespace mirrord {
namespace {

// Lua numbers are doubles: integers beyond 2^53 would silently lose precision in scripts.
constexpr int64_t kMaxExact = int64_t{1} << 53;

// Shared by every script. ARGV[1] is the key prefix.
constexpr std::string_view kPrelude = R"lua(
local P = ARGV[1]
local QUEUED = P .. 'queued'
local QUEUED_BY_REPO = P .. 'queued_by_repo'
local RUNNING = P .. 'running'
local RUNNING_BY_REPO = P .. 'running_by_repo'
local HOST_RUNNING = P .. 'host_running'
local PAUSED = P .. 'paused'
local PAUSE_REASON = P .. 'pause_reason'
local FIELDS = {'run_id', 'repo', 'trigger', 'priority', 'queued_at', 'not_before',
                'pushed_at', 'host', 'attempt', 'running', 'owner', 'lease_until', 'kind',
                'build', 'ref', 'commit', 'fence'}
local FENCE = P .. 'fence'
local function job_key(id) return P .. 'job:' .. id end
local function job_reply(id) return redis.call('HMGET', job_key(id), unpack(FIELDS)) end
-- Fixed-width numbers, so that byte order is claim order; the raw id ends the key.
local function order_key(priority, not_before, queued_at, id)
  local nb = math.max(tonumber(not_before), 0)
  local qa = math.max(tonumber(queued_at), 0)
  return string.format('%010d|%016d|%016d|%016d|', tonumber(priority) + 2147483648, nb, qa,
                       tonumber(id)) .. id
end
local function id_of(member) return string.match(member, '|([^|]*)$') end
-- A job's queue key (QueueKey in C++): stored as 'qkey'; jobs queued before job kinds
-- existed have none and are syncs, keyed by their repo.
local function qkey_of(qkey, repo)
  if qkey == false or qkey == nil or qkey == '' then return repo end
  return qkey
end
local function release_running(id, qkey, host)
  redis.call('ZREM', RUNNING, id)
  if redis.call('HGET', RUNNING_BY_REPO, qkey) == id then
    redis.call('HDEL', RUNNING_BY_REPO, qkey)
  end
  if redis.call('HINCRBY', HOST_RUNNING, host, -1) <= 0 then
    redis.call('HDEL', HOST_RUNNING, host)
  end
end
)lua";

// ARGV: prefix, run_id, repo, trigger, priority, queued_at, not_before, pushed_at, host,
// attempt, kind, build, ref, commit, queue key. Returns {-1} when the run id exists, else
// {coalesced 0/1, job}. Run id "0" only coalesces: {1, job} as above, or {2} when nothing
// is queued for the queue key.
constexpr std::string_view kEnqueue = R"lua(
local id, repo, qkey = ARGV[2], ARGV[3], ARGV[15]
if id ~= '0' and redis.call('EXISTS', job_key(id)) == 1 then return {-1} end
local qid = redis.call('HGET', QUEUED_BY_REPO, qkey)
if qid then
  local k = job_key(qid)
  local cur = redis.call('HMGET', k, 'priority', 'not_before', 'pushed_at', 'queued_at', 'key',
                         'host')
  if tonumber(ARGV[5]) < tonumber(cur[1]) then
    redis.call('HSET', k, 'priority', ARGV[5], 'trigger', ARGV[4])
    cur[1] = ARGV[5]
  end
  if tonumber(ARGV[7]) < tonumber(cur[2]) then
    redis.call('HSET', k, 'not_before', ARGV[7])
    cur[2] = ARGV[7]
  end
  if tonumber(ARGV[8]) > tonumber(cur[3]) then redis.call('HSET', k, 'pushed_at', ARGV[8]) end
  if cur[6] == '' and ARGV[9] ~= '' then redis.call('HSET', k, 'host', ARGV[9]) end
  if ARGV[14] ~= '' then redis.call('HSET', k, 'commit', ARGV[14]) end
  local key = order_key(cur[1], cur[2], cur[4], qid)
  if key ~= cur[5] then
    redis.call('ZREM', QUEUED, cur[5])
    redis.call('ZADD', QUEUED, 0, key)
    redis.call('HSET', k, 'key', key)
  end
  return {1, job_reply(qid)}
end
if id == '0' then return {2} end  -- coalesce only: nothing queued
local key = order_key(ARGV[5], ARGV[7], ARGV[6], id)
redis.call('HSET', job_key(id), 'run_id', id, 'repo', repo, 'trigger', ARGV[4],
           'priority', ARGV[5], 'queued_at', ARGV[6], 'not_before', ARGV[7],
           'pushed_at', ARGV[8], 'host', ARGV[9], 'attempt', ARGV[10], 'running', '0',
           'owner', '', 'lease_until', '0', 'key', key, 'kind', ARGV[11], 'build', ARGV[12],
           'ref', ARGV[13], 'commit', ARGV[14], 'qkey', qkey)
redis.call('ZADD', QUEUED, 0, key)
redis.call('HSET', QUEUED_BY_REPO, qkey, id)
return {0, job_reply(id)}
)lua";

// ARGV: prefix, owner, now, lease_until, max_running_per_host. Returns the job or nil.
constexpr std::string_view kClaim = R"lua(
local owner, now, lease_until = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local max_per_host = tonumber(ARGV[5])
local paused, full = {}, {}
local function host_paused(host)
  local v = paused[host]
  if v == nil then
    local until_ms = redis.call('HGET', PAUSED, host)
    v = until_ms ~= false and until_ms ~= nil and tonumber(until_ms) > now
    paused[host] = v
  end
  return v
end
local function host_full(host)
  local v = full[host]
  if v == nil then
    v = false
    if max_per_host > 0 then
      local n = redis.call('HGET', HOST_RUNNING, host)
      if n and tonumber(n) >= max_per_host then v = true end
    end
    full[host] = v
  end
  return v
end
local batch, start = 128, 0
while true do
  local members = redis.call('ZRANGE', QUEUED, start, start + batch - 1)
  for _, m in ipairs(members) do
    local id = id_of(m)
    local k = job_key(id)
    local j = redis.call('HMGET', k, 'repo', 'host', 'not_before', 'priority', 'qkey')
    local qkey = qkey_of(j[5], j[1])
    -- Manual jobs (priority 0) override a pause, never the per-host limit.
    if tonumber(j[3]) <= now and redis.call('HEXISTS', RUNNING_BY_REPO, qkey) == 0 and
        not host_full(j[2]) and (tonumber(j[4]) == 0 or not host_paused(j[2])) then
      redis.call('ZREM', QUEUED, m)
      redis.call('HDEL', QUEUED_BY_REPO, qkey)
      -- The fencing token: past the last one and at least the claim's time in ms, so it
      -- keeps increasing even if this Redis lost its data.
      local last = tonumber(redis.call('GET', FENCE) or '0')
      local fence = string.format('%d', math.max(last + 1, now))
      redis.call('SET', FENCE, fence)
      redis.call('HSET', k, 'running', '1', 'owner', owner, 'lease_until', lease_until,
                 'fence', fence)
      redis.call('ZADD', RUNNING, lease_until, id)
      redis.call('HSET', RUNNING_BY_REPO, qkey, id)
      redis.call('HINCRBY', HOST_RUNNING, j[2], 1)
      return job_reply(id)
    end
  end
  if #members < batch then return false end
  start = start + batch
end
)lua";

// ARGV: prefix, run_id, owner, lease_until. Returns 1, or 0 when not running under owner.
constexpr std::string_view kRenew = R"lua(
local id = ARGV[2]
local k = job_key(id)
local j = redis.call('HMGET', k, 'running', 'owner')
if j[1] ~= '1' or j[2] ~= ARGV[3] then return 0 end
redis.call('HSET', k, 'lease_until', ARGV[4])
redis.call('ZADD', RUNNING, ARGV[4], id)
return 1
)lua";

// ARGV: prefix, run_id, owner. Returns 1, or 0 when not running under owner.
constexpr std::string_view kFinish = R"lua(
local id = ARGV[2]
local k = job_key(id)
local j = redis.call('HMGET', k, 'running', 'owner', 'repo', 'host', 'qkey')
if j[1] ~= '1' or j[2] ~= ARGV[3] then return 0 end
release_running(id, qkey_of(j[5], j[3]), j[4])
redis.call('DEL', k)
return 1
)lua";

// ARGV: prefix, owner ('' for none), now. Returns {requeued jobs, dropped run ids}.
constexpr std::string_view kRequeueAbandoned = R"lua(
local owner, now = ARGV[2], tonumber(ARGV[3])
local ids = redis.call('ZRANGE', RUNNING, 0, -1)
table.sort(ids, function(a, b) return tonumber(a) < tonumber(b) end)
local requeued, dropped, lost_by = {}, {}, {}
for _, id in ipairs(ids) do
  local k = job_key(id)
  local j = redis.call('HMGET', k, 'owner', 'lease_until', 'repo', 'host', 'priority',
                       'trigger', 'not_before', 'pushed_at', 'queued_at', 'qkey', 'commit')
  if (owner ~= '' and j[1] == owner) or tonumber(j[2]) < now then
    local qkey = qkey_of(j[10], j[3])
    release_running(id, qkey, j[4])
    local priority, trigger, not_before, pushed_at = j[5], j[6], j[7], j[8]
    local commit = j[11] or ''
    local qid = redis.call('HGET', QUEUED_BY_REPO, qkey)
    if qid then
      -- The abandoned run keeps its id; the queued follow-up folds into it.
      local qk = job_key(qid)
      local q = redis.call('HMGET', qk, 'priority', 'trigger', 'not_before', 'pushed_at', 'key',
                           'commit')
      if tonumber(q[1]) < tonumber(priority) then priority, trigger = q[1], q[2] end
      if tonumber(q[3]) < tonumber(not_before) then not_before = q[3] end
      if tonumber(q[4]) > tonumber(pushed_at) then pushed_at = q[4] end
      if q[6] and q[6] ~= '' then commit = q[6] end
      redis.call('ZREM', QUEUED, q[5])
      redis.call('DEL', qk)
      table.insert(dropped, qid)
    end
    local key = order_key(priority, not_before, j[9], id)
    redis.call('HSET', k, 'running', '0', 'owner', '', 'lease_until', '0', 'priority', priority,
               'trigger', trigger, 'not_before', not_before, 'pushed_at', pushed_at, 'key', key)
    if commit ~= '' then redis.call('HSET', k, 'commit', commit) end
    redis.call('ZADD', QUEUED, 0, key)
    redis.call('HSET', QUEUED_BY_REPO, qkey, id)
    table.insert(requeued, id)
    table.insert(lost_by, j[1])
  end
end
local jobs = {}
for i, id in ipairs(requeued) do jobs[i] = job_reply(id) end
return {jobs, dropped, lost_by}
)lua";

// ARGV: prefix, repo. Returns the removed run id, or '0'.
constexpr std::string_view kRemoveQueued = R"lua(
local qid = redis.call('HGET', QUEUED_BY_REPO, ARGV[2])
if not qid then return '0' end
local k = job_key(qid)
redis.call('ZREM', QUEUED, redis.call('HGET', k, 'key'))
redis.call('DEL', k)
redis.call('HDEL', QUEUED_BY_REPO, ARGV[2])
return qid
)lua";

// ARGV: prefix. Returns every job: running ones in claim order, then queued ones.
constexpr std::string_view kList = R"lua(
local running = {}
for _, id in ipairs(redis.call('ZRANGE', RUNNING, 0, -1)) do
  table.insert(running, {redis.call('HGET', job_key(id), 'key') or '', id})
end
table.sort(running, function(a, b) return a[1] < b[1] end)
local out = {}
for _, r in ipairs(running) do table.insert(out, job_reply(r[2])) end
for _, m in ipairs(redis.call('ZRANGE', QUEUED, 0, -1)) do
  table.insert(out, job_reply(id_of(m)))
end
return out
)lua";

// ARGV: prefix, host, until, reason. Only ever extends a pause.
constexpr std::string_view kPauseHost = R"lua(
local cur = redis.call('HGET', PAUSED, ARGV[2])
if cur and tonumber(cur) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', PAUSED, ARGV[2], ARGV[3])
redis.call('HSET', PAUSE_REASON, ARGV[2], ARGV[4])
return 1
)lua";

// ARGV: prefix, now. Returns {host, until, reason} for pauses in force.
constexpr std::string_view kPausedHosts = R"lua(
local now = tonumber(ARGV[2])
local out = {}
local all = redis.call('HGETALL', PAUSED)
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) > now then
    table.insert(out, {all[i], all[i + 1], redis.call('HGET', PAUSE_REASON, all[i]) or ''})
  end
end
return out
)lua";

// ARGV: prefix, delivery id, now, until (= now + keep), Redis expiry in ms. Returns 1 when
// new. A delivery counts as seen while now < until, by the callers' clock; the Redis
// expiry only collects old ids.
constexpr std::string_view kRecordDelivery = R"lua(
local k = P .. 'delivery:' .. ARGV[2]
local cur = redis.call('GET', k)
if cur and tonumber(cur) > tonumber(ARGV[3]) then return 0 end
redis.call('SET', k, ARGV[4], 'PX', ARGV[5])
return 1
)lua";

struct Scripts {
  Scripts()
      : enqueue(Make(kEnqueue)),
        claim(Make(kClaim)),
        renew(Make(kRenew)),
        finish(Make(kFinish)),
        requeue_abandoned(Make(kRequeueAbandoned)),
        remove_queued(Make(kRemoveQueued)),
        list(Make(kList)),
        pause_host(Make(kPauseHost)),
        paused_hosts(Make(kPausedHosts)),
        record_delivery(Make(kRecordDelivery)) {}
  static RedisScript Make(std::string_view body) {
    std::string source(kPrelude);
    source += body;
    return RedisScript(std::move(source));
  }
  RedisScript enqueue, claim, renew, finish, requeue_abandoned, remove_queued, list, pause_host,
      paused_hosts, record_delivery;
};

const Scripts& TheScripts() {
  static const Scripts* const scripts = new Scripts();
  return *scripts;
}

Status CheckExact(int64_t value, std::string_view what) {
  if (value > kMaxExact || value < -kMaxExact) {
    return InvalidArgument(std::string(what) + " " + std::to_string(value) +
                           " is out of range for the Redis job queue (|value| <= 2^53)");
  }
  return Status::Ok();
}

Status BadReply(std::string_view what) {
  return Internal("redis job queue: unexpected reply to " + std::string(what));
}

bool IsString(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

std::string_view StringOf(const redisReply* r) {
  return r->str != nullptr ? std::string_view(r->str, r->len) : std::string_view();
}

template <typename Int>
Result<Int> ParseInt(std::string_view text, std::string_view what) {
  Int value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Internal("redis job queue: " + std::string(what) +
                    " is not a number: " + std::string(text.substr(0, 40)));
  }
  return value;
}

// An integer reply, or a string holding one.
Result<int64_t> IntOf(const redisReply* r, std::string_view what) {
  if (r != nullptr && r->type == REDIS_REPLY_INTEGER) return static_cast<int64_t>(r->integer);
  if (IsString(r)) return ParseInt<int64_t>(StringOf(r), what);
  return BadReply(what);
}

// A job as the scripts' job_reply() returns it: the fields in FIELDS order. kind, build, ref
// and commit are missing from jobs queued before job kinds (a sync); fence until the first
// claim.
Result<QueuedJob> JobOf(const redisReply* r) {
  constexpr size_t kFields = 17, kRequired = 12;
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != kFields) {
    return BadReply("job");
  }
  for (size_t i = 0; i < kRequired; ++i) {
    if (!IsString(r->element[i])) {
      return Internal("redis job queue: a job's hash is missing or incomplete (field " +
                      std::to_string(i) + ")");
    }
  }
  auto s = [&](size_t i) { return std::string(StringOf(r->element[i])); };
  QueuedJob j;
  ASSIGN_OR_RETURN(j.run_id, ParseInt<int64_t>(StringOf(r->element[0]), "run_id"));
  j.repo = s(1);
  j.trigger = s(2);
  ASSIGN_OR_RETURN(j.priority, ParseInt<int>(StringOf(r->element[3]), "priority"));
  ASSIGN_OR_RETURN(j.queued_at_ms, ParseInt<int64_t>(StringOf(r->element[4]), "queued_at"));
  ASSIGN_OR_RETURN(j.not_before_ms, ParseInt<int64_t>(StringOf(r->element[5]), "not_before"));
  ASSIGN_OR_RETURN(j.pushed_at_ms, ParseInt<int64_t>(StringOf(r->element[6]), "pushed_at"));
  j.host = s(7);
  ASSIGN_OR_RETURN(j.attempt, ParseInt<int>(StringOf(r->element[8]), "attempt"));
  j.running = StringOf(r->element[9]) == "1";
  j.owner = s(10);
  ASSIGN_OR_RETURN(j.lease_until_ms, ParseInt<int64_t>(StringOf(r->element[11]), "lease_until"));
  auto optional = [&](size_t i) {
    return IsString(r->element[i]) ? std::string(StringOf(r->element[i])) : std::string();
  };
  j.kind = JobKindFromName(optional(12));
  j.build = optional(13);
  j.ref = optional(14);
  j.commit = optional(15);
  // Absent until the job is first claimed.
  if (IsString(r->element[16])) {
    ASSIGN_OR_RETURN(j.fence, ParseInt<int64_t>(StringOf(r->element[16]), "fence"));
  }
  return j;
}

Result<std::vector<QueuedJob>> JobsOf(const redisReply* r) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY) return BadReply("job list");
  std::vector<QueuedJob> out;
  out.reserve(r->elements);
  for (size_t i = 0; i < r->elements; ++i) {
    ASSIGN_OR_RETURN(QueuedJob j, JobOf(r->element[i]));
    out.push_back(std::move(j));
  }
  return out;
}

// Percent-decodes a URL component.
Result<std::string> PercentDecode(std::string_view in, std::string_view what) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (i + 2 >= in.size()) {
      return InvalidArgument("redis url: bad percent-escape in the " + std::string(what));
    }
    const int hi = hex(in[i + 1]);
    const int lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return InvalidArgument("redis url: bad percent-escape in the " + std::string(what));
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Result<int> ParseUrlNumber(std::string_view text, std::string_view what, int min, int max) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < min ||
      value > max) {
    return InvalidArgument("redis url: bad " + std::string(what) + " \"" +
                           std::string(text.substr(0, 20)) + "\" (" + std::to_string(min) + ".." +
                           std::to_string(max) + ")");
  }
  return value;
}

// "[user]:password" into the options. The password is never quoted in errors.
Status ParseUserinfo(std::string_view userinfo, RedisQueueOptions* out) {
  const size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    return InvalidArgument(
        "redis url: credentials need a ':' (redis://:PASSWORD@host or "
        "redis://USER:PASSWORD@host)");
  }
  ASSIGN_OR_RETURN(out->username, PercentDecode(userinfo.substr(0, colon), "user name"));
  ASSIGN_OR_RETURN(out->password, PercentDecode(userinfo.substr(colon + 1), "password"));
  return Status::Ok();
}

// "db=N[&db=N]": the only query parameter understood.
Status ParseQuery(std::string_view query, RedisQueueOptions* out) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty()) continue;
    if (param.substr(0, 3) != "db=") {
      const size_t eq = param.find('=');
      return InvalidArgument("redis url: unknown parameter \"" +
                             std::string(param.substr(0, std::min<size_t>(eq, 30))) + "\"");
    }
    ASSIGN_OR_RETURN(out->db, ParseUrlNumber(param.substr(3), "db", 0, INT_MAX));
  }
  return Status::Ok();
}

}  // namespace

Result<RedisQueueOptions> ParseRedisUrl(std::string_view url) {
  RedisQueueOptions out;
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return InvalidArgument("redis url: expected redis://host[:port][/db] or unix:///path");
  }
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view rest = url.substr(sep + 3);
  // Credentials first (up to the last '@'), so that a '/' or '?' in a password that was not
  // percent-encoded cannot be taken for a path or a query (and quoted in an error).
  std::string_view userinfo;
  bool has_userinfo = false;
  if (scheme == "unix") {
    if (!rest.empty() && rest.front() != '/') {
      const size_t at = rest.rfind("@/");  // unix://[user]:password@/path
      if (at == std::string_view::npos) {
        return InvalidArgument("redis url: unix:// needs an absolute socket path");
      }
      userinfo = rest.substr(0, at);
      has_userinfo = true;
      rest = rest.substr(at + 1);
    }
  } else if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    userinfo = rest.substr(0, at);
    has_userinfo = true;
    rest = rest.substr(at + 1);
  }
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (scheme == "rediss") {
    return InvalidArgument(
        "redis url: TLS (rediss://) is not supported; use a local socket, "
        "a private network or a TLS tunnel");
  }
  if (scheme != "redis" && scheme != "unix") {
    return InvalidArgument("redis url: unknown scheme \"" + scheme.substr(0, 20) +
                           "\" (expected redis:// or unix://)");
  }
  if (has_userinfo) RETURN_IF_ERROR(ParseUserinfo(userinfo, &out));
  if (scheme == "unix") {
    if (rest.size() < 2) return InvalidArgument("redis url: unix:// needs a socket path");
    ASSIGN_OR_RETURN(out.unix_socket, PercentDecode(rest, "socket path"));
    RETURN_IF_ERROR(ParseQuery(query, &out));
    return out;
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgument("redis url: unterminated [IPv6] host");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidArgument("redis url: junk after the [IPv6] host");
      port = after.substr(1);
      if (port.empty()) return InvalidArgument("redis url: empty port");
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return InvalidArgument("redis url: empty port");
  }
  if (!host.empty()) out.host = std::string(host);
  if (!port.empty()) {
    ASSIGN_OR_RETURN(out.port, ParseUrlNumber(port, "port", 1, 65535));
  }
  if (path.size() > 1) {
    ASSIGN_OR_RETURN(out.db, ParseUrlNumber(path.substr(1), "db", 0, INT_MAX));
  }
  RETURN_IF_ERROR(ParseQuery(query, &out));
  return out;
}

Result<std::unique_ptr<RedisJobQueue>> RedisJobQueue::Connect(const RedisQueueOptions& options) {
  RedisConnectOptions connect;
  connect.host = options.host;
  connect.port = options.port;
  connect.unix_socket = options.unix_socket;
  connect.db = options.db;
  connect.username = options.username;
  connect.password = options.password;
  connect.timeout = options.timeout;
  auto q =
      std::unique_ptr<RedisJobQueue>(new RedisJobQueue(std::move(connect), options.key_prefix));
  RETURN_IF_ERROR(q->client_.Connect());
  ASSIGN_OR_RETURN(RedisReplyPtr pong, q->client_.Command({"PING"}));
  if (!IsString(pong.get()) || StringOf(pong.get()) != "PONG") {
    return Unavailable(q->client_.endpoint() + " did not answer PING with PONG");
  }
  return q;
}

Result<RedisReplyPtr> RedisJobQueue::Run(const RedisScript& script, std::vector<std::string> args) {
  args.insert(args.begin(), prefix_);
  std::lock_guard lock(mu_);
  return client_.Eval(script, args);
}

Result<EnqueueResult> RedisJobQueue::Enqueue(const QueuedJob& job) {
  if (job.run_id <= 0) return InvalidArgument("a job needs a positive run id");
  ASSIGN_OR_RETURN(std::optional<EnqueueResult> result, RunEnqueue(job));
  if (!result) return BadReply("Enqueue");
  return std::move(*result);
}

Result<std::optional<QueuedJob>> RedisJobQueue::CoalesceIntoQueued(const QueuedJob& job) {
  QueuedJob coalesce_only = job;
  coalesce_only.run_id = 0;
  ASSIGN_OR_RETURN(std::optional<EnqueueResult> result, RunEnqueue(coalesce_only));
  if (!result) return std::optional<QueuedJob>();
  return std::optional<QueuedJob>(std::move(result->job));
}

Result<std::optional<EnqueueResult>> RedisJobQueue::RunEnqueue(const QueuedJob& job) {
  if (job.repo.empty()) return InvalidArgument("a job needs a repository");
  const bool build = job.kind != JobKind::kSync;  // builds and pushes: (build, ref) keyed
  if (build && (job.build.empty() || job.ref.empty())) {
    return InvalidArgument("a build or push job needs a build (image) and a ref (registry)");
  }
  RETURN_IF_ERROR(CheckExact(job.run_id, "run id"));
  RETURN_IF_ERROR(CheckExact(job.queued_at_ms, "queued_at_ms"));
  RETURN_IF_ERROR(CheckExact(job.not_before_ms, "not_before_ms"));
  RETURN_IF_ERROR(CheckExact(job.pushed_at_ms, "pushed_at_ms"));
  ASSIGN_OR_RETURN(
      RedisReplyPtr reply,
      Run(TheScripts().enqueue,
          {std::to_string(job.run_id), job.repo, job.trigger, std::to_string(job.priority),
           std::to_string(job.queued_at_ms), std::to_string(job.not_before_ms),
           std::to_string(job.pushed_at_ms), job.host, std::to_string(job.attempt),
           std::string(JobKindName(job.kind)), build ? job.build : "", build ? job.ref : "",
           build ? job.commit : "", QueueKey(job)}));
  const redisReply* r = reply.get();
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) return BadReply("Enqueue");
  ASSIGN_OR_RETURN(int64_t flag, IntOf(r->element[0], "Enqueue"));
  if (flag < 0) {
    return AlreadyExists("run " + std::to_string(job.run_id) + " is already queued or running");
  }
  if (flag == 2) return std::optional<EnqueueResult>();  // coalesce only, nothing queued
  if (r->elements != 2) return BadReply("Enqueue");
  EnqueueResult out;
  out.coalesced = flag == 1;
  ASSIGN_OR_RETURN(out.job, JobOf(r->element[1]));
  return std::optional<EnqueueResult>(std::move(out));
}

Result<std::optional<QueuedJob>> RedisJobQueue::Claim(const ClaimRequest& request) {
  RETURN_IF_ERROR(CheckExact(request.now_ms, "now_ms"));
  RETURN_IF_ERROR(CheckExact(request.lease_ms, "lease_ms"));
  const int64_t lease_until = request.now_ms + request.lease_ms;
  RETURN_IF_ERROR(CheckExact(lease_until, "lease end"));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   Run(TheScripts().claim,
                       {request.owner, std::to_string(request.now_ms), std::to_string(lease_until),
                        std::to_string(request.max_running_per_host)}));
  if (reply->type == REDIS_REPLY_NIL) return std::optional<QueuedJob>();
  ASSIGN_OR_RETURN(QueuedJob j, JobOf(reply.get()));
  return std::optional<QueuedJob>(std::move(j));
}

Status RedisJobQueue::Renew(int64_t run_id, std::string_view owner, int64_t lease_until_ms) {
  RETURN_IF_ERROR(CheckExact(lease_until_ms, "lease_until_ms"));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   Run(TheScripts().renew, {std::to_string(run_id), std::string(owner),
                                            std::to_string(lease_until_ms)}));
  ASSIGN_OR_RETURN(int64_t renewed, IntOf(reply.get(), "Renew"));
  if (renewed == 0) {
    return NotFound("run " + std::to_string(run_id) + " is not running on this node");
  }
  return Status::Ok();
}

Status RedisJobQueue::Finish(int64_t run_id, std::string_view owner) {
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   Run(TheScripts().finish, {std::to_string(run_id), std::string(owner)}));
  ASSIGN_OR_RETURN(int64_t finished, IntOf(reply.get(), "Finish"));
  if (finished == 0) {
    return NotFound("run " + std::to_string(run_id) + " is not running on this node");
  }
  return Status::Ok();
}

Result<JobQueue::Requeued> RedisJobQueue::RequeueAbandoned(std::string_view owner, int64_t now_ms) {
  RETURN_IF_ERROR(CheckExact(now_ms, "now_ms"));
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Run(TheScripts().requeue_abandoned,
                                            {std::string(owner), std::to_string(now_ms)}));
  const redisReply* r = reply.get();
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
      r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_ARRAY ||
      r->element[2]->type != REDIS_REPLY_ARRAY ||
      r->element[2]->elements != r->element[0]->elements) {
    return BadReply("RequeueAbandoned");
  }
  Requeued out;
  ASSIGN_OR_RETURN(out.jobs, JobsOf(r->element[0]));
  for (size_t i = 0; i < r->element[2]->elements; ++i) {
    const redisReply* node = r->element[2]->element[i];
    if (node->type != REDIS_REPLY_STRING) return BadReply("RequeueAbandoned");
    out.lost_by.emplace_back(node->str, node->len);
  }
  for (size_t i = 0; i < r->element[1]->elements; ++i) {
    ASSIGN_OR_RETURN(int64_t id, IntOf(r->element[1]->element[i], "RequeueAbandoned"));
    out.dropped.push_back(id);
  }
  return out;
}

Result<int64_t> RedisJobQueue::RemoveQueued(std::string_view repo) {
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Run(TheScripts().remove_queued, {std::string(repo)}));
  return IntOf(reply.get(), "RemoveQueued");
}

Result<std::vector<QueuedJob>> RedisJobQueue::List() {
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Run(TheScripts().list, {}));
  return JobsOf(reply.get());
}

Status RedisJobQueue::PauseHost(const PausedHost& pause) {
  RETURN_IF_ERROR(CheckExact(pause.until_ms, "until_ms"));
  ASSIGN_OR_RETURN(
      RedisReplyPtr reply,
      Run(TheScripts().pause_host, {pause.host, std::to_string(pause.until_ms), pause.reason}));
  return Status::Ok();
}

Result<std::vector<PausedHost>> RedisJobQueue::PausedHosts(int64_t now_ms) {
  RETURN_IF_ERROR(CheckExact(now_ms, "now_ms"));
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Run(TheScripts().paused_hosts, {std::to_string(now_ms)}));
  const redisReply* r = reply.get();
  if (r->type != REDIS_REPLY_ARRAY) return BadReply("PausedHosts");
  std::vector<PausedHost> out;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 || !IsString(e->element[0]) ||
        !IsString(e->element[2])) {
      return BadReply("PausedHosts");
    }
    PausedHost p;
    p.host = std::string(StringOf(e->element[0]));
    ASSIGN_OR_RETURN(p.until_ms, IntOf(e->element[1], "PausedHosts"));
    p.reason = std::string(StringOf(e->element[2]));
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(),
            [](const PausedHost& a, const PausedHost& b) { return a.host < b.host; });
  return out;
}

Result<bool> RedisJobQueue::RecordDelivery(std::string_view delivery_id, int64_t now_ms,
                                           int64_t keep_ms) {
  RETURN_IF_ERROR(CheckExact(now_ms, "now_ms"));
  RETURN_IF_ERROR(CheckExact(keep_ms, "keep_ms"));
  const int64_t until = now_ms + std::max<int64_t>(keep_ms, 0);
  RETURN_IF_ERROR(CheckExact(until, "delivery expiry"));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   Run(TheScripts().record_delivery,
                       {std::string(delivery_id), std::to_string(now_ms), std::to_string(until),
                        std::to_string(std::max<int64_t>(keep_ms, 1))}));
  ASSIGN_OR_RETURN(int64_t fresh, IntOf(reply.get(), "RecordDelivery"));
  return fresh == 1;
}

}  // namespace mirrord
