#include "lfs/batch_json.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <limits>
#include <utility>

#include "common/log.h"
#include "lfs/pointer.h"

namespace mirrord {
namespace json = boost::json;
namespace {

// Untrusted text for an error message: at most 64 bytes, non-printable bytes escaped.
std::string Printable(std::string_view s) { return PrintableExcerpt(s, 64); }

Result<json::value> ParseDocument(std::string_view body) {
  boost::system::error_code ec;
  json::value jv = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec) return InvalidArgument("body is not valid JSON: " + ec.message());
  return jv;
}

// Reads the members of one JSON object; `where` names the object in errors ("" for the
// document, "objects[2]" for an element), so messages read "objects[2].size: ...".
class ObjectReader {
 public:
  static Result<ObjectReader> Open(const json::value& jv, std::string where) {
    if (!jv.is_object()) {
      return InvalidArgument((where.empty() ? "body" : where) + ": expected a JSON object");
    }
    return ObjectReader(jv.get_object(), std::move(where));
  }

  // The member `key`, or nullptr when it is absent or null.
  const json::value* Find(std::string_view key) const {
    const json::value* v = obj_->if_contains(json::string_view(key.data(), key.size()));
    return (v == nullptr || v->is_null()) ? nullptr : v;
  }

  std::string Path(std::string_view key) const {
    return where_.empty() ? std::string(key) : where_ + "." + std::string(key);
  }

  Status Error(std::string_view key, std::string_view what) const {
    return InvalidArgument(Path(key) + ": " + std::string(what));
  }

  // Leaves *out alone when the member is absent.
  Status String(std::string_view key, std::string* out) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return Error(key, "expected a string");
    *out = std::string(v->get_string());
    return Status::Ok();
  }

  Status RequiredString(std::string_view key, std::string* out) const {
    if (Find(key) == nullptr) return Error(key, "missing");
    return String(key, out);
  }

  Status Bool(std::string_view key, bool* out) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_bool()) return Error(key, "expected true or false");
    *out = v->get_bool();
    return Status::Ok();
  }

  // An integral JSON number (not 1.0, not 1e3) in [0, kMaxLfsObjectSize].
  Status Size(std::string_view key, uint64_t* out) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Error(key, "missing");
    if (v->is_int64() && v->get_int64() >= 0) {
      *out = static_cast<uint64_t>(v->get_int64());
      return Status::Ok();
    }
    if (v->is_uint64()) {
      if (v->get_uint64() > kMaxLfsObjectSize) return Error(key, "too large");
      *out = v->get_uint64();
      return Status::Ok();
    }
    // Negative, fractional, in exponent form (1e3 is a double to Boost.JSON) or no number.
    return Error(key, "expected a non-negative integer");
  }

  // An integral JSON number within [lo, hi].
  Status Integer(std::string_view key, int64_t lo, int64_t hi, int64_t* out) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Error(key, "missing");
    if (!v->is_int64()) {
      return Error(key, v->is_uint64() ? "out of range" : "expected an integer");
    }
    if (v->get_int64() < lo || v->get_int64() > hi) return Error(key, "out of range");
    *out = v->get_int64();
    return Status::Ok();
  }

  Status Oid(std::string_view key, std::string* out) const {
    RETURN_IF_ERROR(RequiredString(key, out));
    if (!IsValidLfsOid(*out)) return Error(key, "expected 64 lowercase hex digits (SHA-256)");
    return Status::Ok();
  }

 private:
  ObjectReader(const json::object& obj, std::string where) : obj_(&obj), where_(std::move(where)) {}

  const json::object* obj_;
  std::string where_;
};

std::string Indexed(std::string_view array_path, size_t i) {
  return std::string(array_path) + "[" + std::to_string(i) + "]";
}

// RFC 9110 token characters: what a header name may hold.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// No control characters except HTAB: a CR or LF in a value handed to an HTTP client would
// let the upstream inject header lines.
bool IsHeaderValue(std::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

bool IsHref(std::string_view href) {
  if (href.empty()) return false;
  for (char c : href) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

Result<LfsAction> ParseAction(const json::value& jv, const std::string& where) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, where));
  LfsAction action;
  RETURN_IF_ERROR(r.RequiredString("href", &action.href));
  if (!IsHref(action.href)) {
    return r.Error("href", "expected a URL without spaces or control characters");
  }
  if (const json::value* h = r.Find("header")) {
    if (!h->is_object()) return r.Error("header", "expected a JSON object");
    for (const auto& [name, value] : h->get_object()) {
      std::string field = r.Path("header") + "." + Printable(name);
      if (!IsHeaderName(name)) return InvalidArgument(field + ": not a valid header name");
      if (!value.is_string()) return InvalidArgument(field + ": expected a string");
      if (!IsHeaderValue(value.get_string())) {
        return InvalidArgument(field + ": control characters in header value");
      }
      action.header[std::string(name)] = std::string(value.get_string());
    }
  }
  if (r.Find("expires_in") != nullptr) {
    int64_t seconds = 0;
    RETURN_IF_ERROR(r.Integer("expires_in", std::numeric_limits<int64_t>::min(),
                              std::numeric_limits<int64_t>::max(), &seconds));
    action.expires_in = seconds;
  }
  RETURN_IF_ERROR(r.String("expires_at", &action.expires_at));
  return action;
}

Result<LfsBatchObjectResponse> ParseResponseObject(const json::value& jv,
                                                   const std::string& where) {
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(jv, where));
  LfsBatchObjectResponse object;
  RETURN_IF_ERROR(r.Oid("oid", &object.oid));
  RETURN_IF_ERROR(r.Size("size", &object.size));
  RETURN_IF_ERROR(r.Bool("authenticated", &object.authenticated));
  if (const json::value* actions = r.Find("actions")) {
    ASSIGN_OR_RETURN(ObjectReader a, ObjectReader::Open(*actions, r.Path("actions")));
    if (const json::value* download = a.Find("download")) {
      ASSIGN_OR_RETURN(object.download, ParseAction(*download, a.Path("download")));
    }
  }
  if (const json::value* error = r.Find("error")) {
    ASSIGN_OR_RETURN(ObjectReader e, ObjectReader::Open(*error, r.Path("error")));
    LfsObjectError object_error;
    if (e.Find("code") != nullptr) {
      int64_t code = 0;
      RETURN_IF_ERROR(e.Integer("code", std::numeric_limits<int>::min(),
                                std::numeric_limits<int>::max(), &code));
      object_error.code = static_cast<int>(code);
    }
    RETURN_IF_ERROR(e.String("message", &object_error.message));
    object.error = std::move(object_error);
  }
  return object;
}

// The `objects` member as an array, InvalidArgument when missing or not an array.
Result<const json::array*> ObjectsArray(const ObjectReader& r) {
  const json::value* objects = r.Find("objects");
  if (objects == nullptr) return r.Error("objects", "missing");
  if (!objects->is_array()) return r.Error("objects", "expected an array");
  return &objects->get_array();
}

json::value ActionToJson(const LfsAction& action) {
  json::object out;
  out["href"] = action.href;
  if (!action.header.empty()) {
    json::object header;
    for (const auto& [name, value] : action.header) header[name] = value;
    out["header"] = std::move(header);
  }
  if (action.expires_in) out["expires_in"] = *action.expires_in;
  if (!action.expires_at.empty()) out["expires_at"] = action.expires_at;
  return out;
}

// Reads exactly `n` decimal digits at *pos (advancing it) into *out.
bool Digits(std::string_view s, size_t* pos, size_t n, int* out) {
  if (*pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, std::string_view one_of) {
  if (*pos >= s.size() || one_of.find(s[*pos]) == std::string_view::npos) return false;
  ++*pos;
  return true;
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

Result<LfsBatchRequest> ParseLfsBatchRequest(std::string_view body) {
  ASSIGN_OR_RETURN(json::value doc, ParseDocument(body));
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(doc, ""));
  LfsBatchRequest request;
  RETURN_IF_ERROR(r.RequiredString("operation", &request.operation));
  if (request.operation != "download" && request.operation != "upload") {
    return r.Error("operation", "expected \"download\" or \"upload\"");
  }
  if (const json::value* transfers = r.Find("transfers")) {
    if (!transfers->is_array()) return r.Error("transfers", "expected an array of strings");
    for (size_t i = 0; i < transfers->get_array().size(); ++i) {
      const json::value& t = transfers->get_array()[i];
      if (!t.is_string()) return InvalidArgument(Indexed("transfers", i) + ": expected a string");
      request.transfers.emplace_back(t.get_string());
    }
  }
  if (const json::value* ref = r.Find("ref")) {
    ASSIGN_OR_RETURN(ObjectReader ref_reader, ObjectReader::Open(*ref, "ref"));
    RETURN_IF_ERROR(ref_reader.String("name", &request.ref));
  }
  RETURN_IF_ERROR(r.String("hash_algo", &request.hash_algo));
  if (!request.hash_algo.empty() && request.hash_algo != "sha256") {
    return FailedPrecondition("hash_algo: unsupported hash algorithm \"" +
                              Printable(request.hash_algo) + "\" (only sha256)");
  }
  ASSIGN_OR_RETURN(const json::array* objects, ObjectsArray(r));
  if (objects->size() > kMaxLfsBatchRequestObjects) {
    return r.Error("objects", "too many objects (" + std::to_string(objects->size()) +
                                  ", at most " + std::to_string(kMaxLfsBatchRequestObjects) + ")");
  }
  request.objects.reserve(objects->size());
  for (size_t i = 0; i < objects->size(); ++i) {
    ASSIGN_OR_RETURN(ObjectReader o, ObjectReader::Open((*objects)[i], Indexed("objects", i)));
    LfsBatchObjectRequest object;
    RETURN_IF_ERROR(o.Oid("oid", &object.oid));
    RETURN_IF_ERROR(o.Size("size", &object.size));
    request.objects.push_back(std::move(object));
  }
  return request;
}

std::string SerializeLfsBatchRequest(const LfsBatchRequest& request) {
  json::object out;
  out["operation"] = request.operation;
  if (!request.transfers.empty()) {
    json::array transfers;
    for (const std::string& t : request.transfers) transfers.emplace_back(t);
    out["transfers"] = std::move(transfers);
  }
  if (!request.ref.empty()) out["ref"] = json::object{{"name", request.ref}};
  json::array objects;
  objects.reserve(request.objects.size());
  for (const LfsBatchObjectRequest& o : request.objects) {
    objects.emplace_back(json::object{{"oid", o.oid}, {"size", o.size}});
  }
  out["objects"] = std::move(objects);
  if (!request.hash_algo.empty()) out["hash_algo"] = request.hash_algo;
  return json::serialize(out);
}

Result<LfsBatchResponse> ParseLfsBatchResponse(std::string_view body) {
  ASSIGN_OR_RETURN(json::value doc, ParseDocument(body));
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(doc, ""));
  LfsBatchResponse response;
  RETURN_IF_ERROR(r.String("transfer", &response.transfer));
  RETURN_IF_ERROR(r.String("hash_algo", &response.hash_algo));
  ASSIGN_OR_RETURN(const json::array* objects, ObjectsArray(r));
  response.objects.reserve(objects->size());
  for (size_t i = 0; i < objects->size(); ++i) {
    ASSIGN_OR_RETURN(LfsBatchObjectResponse object,
                     ParseResponseObject((*objects)[i], Indexed("objects", i)));
    response.objects.push_back(std::move(object));
  }
  return response;
}

std::string SerializeLfsBatchResponse(const LfsBatchResponse& response) {
  json::object out;
  if (!response.transfer.empty()) out["transfer"] = response.transfer;
  json::array objects;
  objects.reserve(response.objects.size());
  for (const LfsBatchObjectResponse& o : response.objects) {
    json::object object{{"oid", o.oid}, {"size", o.size}};
    if (o.authenticated) object["authenticated"] = true;
    if (o.download) object["actions"] = json::object{{"download", ActionToJson(*o.download)}};
    if (o.error) {
      object["error"] = json::object{{"code", o.error->code}, {"message", o.error->message}};
    }
    objects.emplace_back(std::move(object));
  }
  out["objects"] = std::move(objects);
  if (!response.hash_algo.empty()) out["hash_algo"] = response.hash_algo;
  return json::serialize(out);
}

std::string SerializeLfsErrorBody(const LfsErrorBody& body) {
  json::object out{{"message", body.message}};
  if (!body.request_id.empty()) out["request_id"] = body.request_id;
  if (!body.documentation_url.empty()) out["documentation_url"] = body.documentation_url;
  return json::serialize(out);
}

Result<LfsErrorBody> ParseLfsErrorBody(std::string_view body) {
  ASSIGN_OR_RETURN(json::value doc, ParseDocument(body));
  ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Open(doc, ""));
  LfsErrorBody out;
  RETURN_IF_ERROR(r.String("message", &out.message));
  RETURN_IF_ERROR(r.String("request_id", &out.request_id));
  RETURN_IF_ERROR(r.String("documentation_url", &out.documentation_url));
  return out;
}

Result<int64_t> ParseRfc3339(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("not an RFC 3339 date-time (" + std::string(why) + "): \"" +
                           Printable(text) + "\"");
  };
  size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(text, &pos, 4, &year) || !Expect(text, &pos, "-") || !Digits(text, &pos, 2, &month) ||
      !Expect(text, &pos, "-") || !Digits(text, &pos, 2, &day) || !Expect(text, &pos, "Tt") ||
      !Digits(text, &pos, 2, &hour) || !Expect(text, &pos, ":") ||
      !Digits(text, &pos, 2, &minute) || !Expect(text, &pos, ":") ||
      !Digits(text, &pos, 2, &second)) {
    return bad("expected YYYY-MM-DDTHH:MM:SS");
  }
  if (month < 1 || month > 12) return bad("month out of range");
  if (day < 1 || day > DaysInMonth(year, month)) return bad("day out of range");
  if (hour > 23 || minute > 59 || second > 60) return bad("time out of range");
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == digits) return bad("expected digits after '.'");
  }
  int64_t offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int offset_hour = 0, offset_minute = 0;
    if (!Digits(text, &pos, 2, &offset_hour) || !Expect(text, &pos, ":") ||
        !Digits(text, &pos, 2, &offset_minute)) {
      return bad("expected an offset +hh:mm");
    }
    if (offset_hour > 23 || offset_minute > 59) return bad("offset out of range");
    offset_seconds = sign * (offset_hour * 3600 + offset_minute * 60);
  } else {
    return bad("expected 'Z' or an offset");
  }
  if (pos != text.size()) return bad("trailing characters");
  int64_t local = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return local - offset_seconds;
}

}  // namespace mirrord
