// Fuzz target for FormatAccessLogLine, which writes what clients send (path, User-Agent)
// into the audit log. Invariants on every input: the line is exactly one line of valid
// JSON, an object whose user_agent is at most kMaxLoggedUserAgent bytes' worth of the
// input and whose path never holds a query string.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/access_log.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t half = input.size() / 2;
  mirrord::HttpAccessRecord record;
  record.method = "GET";
  record.path = input.substr(0, half);
  record.user_agent = input.substr(half);
  record.client = "127.0.0.1";
  record.status = 200;
  const std::string line = mirrord::FormatAccessLogLine(record);
  Check(!line.empty() && line.back() == '\n');
  Check(line.find('\n') == line.size() - 1);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  Check(!ec && v.is_object());
  const boost::json::object& o = v.as_object();
  Check(o.at("user_agent").is_string());
  // Each logged byte decodes to one code point: at most the bound.
  Check(o.at("user_agent").as_string().size() <= 2 * mirrord::kMaxLoggedUserAgent);
  const std::string path(o.at("path").as_string());
  Check(path.find('?') == std::string::npos);
  return 0;
}
