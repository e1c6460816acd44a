-- wrk script of webhook_bench.sh: signed GitHub deliveries, each with its own
-- X-GitHub-Delivery, so the receiver cannot answer any of them as a redelivery.
--
-- Environment:
--   WEBHOOK_BODY_FILE   the payload (sent as is, byte for byte)
--   WEBHOOK_SIGNATURE   its X-Hub-Signature-256 value (the body never changes, so one
--                       signature serves every request)
--   WEBHOOK_EVENT       X-GitHub-Event (default push)
--   WEBHOOK_RUN         a tag making the delivery ids of this run unique among runs
--   WEBHOOK_STATUS      the status every answer must have (default 202)
--   WEBHOOK_EXPECT      optional: a string every answer's body must contain
--
-- The request is built from a fixed prefix, the delivery id and a fixed suffix: the Lua
-- work per request is one string concatenation, the same for every server under test.
-- done() prints one machine-readable line:
--   WRK_RESULT requests=N duration_us=N p50_us=N p99_us=N max_us=N bad=N connect=N read=N
--              write=N timeout=N status=N
-- where bad counts answers with another status or without WEBHOOK_EXPECT in the body, and
-- WRK_BAD_SAMPLE <status> <body excerpt> for the first bad answer.

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local body_file = env("WEBHOOK_BODY_FILE", nil)
local signature = env("WEBHOOK_SIGNATURE", nil)
local event = env("WEBHOOK_EVENT", "push")
local run_tag = env("WEBHOOK_RUN", "run")
local want_status = tonumber(env("WEBHOOK_STATUS", "202"))
local expect = env("WEBHOOK_EXPECT", nil)

local f = assert(io.open(body_file, "rb"), "cannot open WEBHOOK_BODY_FILE")
local body = f:read("*a")
f:close()

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

local prefix, suffix
local counter = 0
bad = 0
bad_sample = ""

function init(args)
  local host = wrk.headers["Host"] or (wrk.host .. ":" .. wrk.port)
  prefix = "POST " .. wrk.path .. " HTTP/1.1\r\n" ..
           "Host: " .. host .. "\r\n" ..
           "User-Agent: GitHub-Hookshot/bench\r\n" ..
           "Content-Type: application/json\r\n" ..
           "Content-Length: " .. #body .. "\r\n" ..
           "X-GitHub-Event: " .. event .. "\r\n" ..
           "X-GitHub-Hook-ID: 412345678\r\n" ..
           "X-Hub-Signature-256: " .. signature .. "\r\n" ..
           string.format("X-GitHub-Delivery: %s-%02d-", run_tag, thread_no or 0)
  suffix = "\r\n\r\n" .. body
end

function request()
  counter = counter + 1
  return prefix .. string.format("%012d", counter) .. suffix
end

function response(status, headers, resp_body)
  if status ~= want_status or (expect ~= nil and not string.find(resp_body, expect, 1, true)) then
    bad = bad + 1
    if bad_sample == "" then
      bad_sample = tostring(status) .. " " .. string.gsub(string.sub(resp_body, 1, 200), "%c", " ")
    end
  end
end

function done(summary, latency, requests)
  local total_bad, sample = 0, ""
  for _, t in ipairs(threads) do
    total_bad = total_bad + (t:get("bad") or 0)
    local s = t:get("bad_sample")
    if sample == "" and s ~= nil then sample = s end
  end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d bad=%d " ..
    "connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, total_bad, e.connect, e.read, e.write, e.timeout, e.status))
  if sample ~= "" then io.write("WRK_BAD_SAMPLE " .. sample .. "\n") end
end
