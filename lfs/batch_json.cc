#include "lfs/batch_json.h"

#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "common/lfs_pointer.h"
#include "common/log.h"

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

namespace {

// The streaming (SAX) reader of a batch request: builds the LfsBatchRequest while
// Boost.JSON's basic_parser walks the body, without a document tree, so memory stays
// proportional to what is kept (at most kMaxLfsBatchRequestObjects oids) whatever the body
// holds. It stops at the first structural error: a non-object entry of `objects`, a
// member of the wrong type, the 10,001st object.
class BatchRequestHandler {
 public:
  static constexpr size_t max_object_size = static_cast<size_t>(-1);
  static constexpr size_t max_array_size = static_cast<size_t>(-1);
  static constexpr size_t max_key_size = static_cast<size_t>(-1);
  static constexpr size_t max_string_size = static_cast<size_t>(-1);

  LfsBatchRequest request;
  Status failure;  // set when a callback stopped the parse
  bool operation_seen = false;
  bool objects_seen = false;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }

  bool on_object_begin(boost::system::error_code& ec) {
    if (frames_.empty()) {
      frames_.push_back({false, {}, 0});
      return true;
    }
    const Role role = ValueRole();
    switch (role) {
      case Role::kRef:
      case Role::kObjectEntry:
      case Role::kIgnored:
        break;
      default:
        return Fail(ec, WrongType(role));
    }
    if (role == Role::kObjectEntry) {
      if (request.objects.size() >= kMaxLfsBatchRequestObjects) {
        return Fail(ec, InvalidArgument("objects: too many objects (more than " +
                                        std::to_string(kMaxLfsBatchRequestObjects) + ")"));
      }
      entry_ = Entry{};
    }
    frames_.push_back({false, {}, 0});
    return true;
  }

  bool on_object_end(size_t, boost::system::error_code& ec) {
    frames_.pop_back();
    if (frames_.size() == 2 && InObjects()) {
      const std::string where = Indexed("objects", frames_[1].index);
      if (!entry_.oid) return Fail(ec, InvalidArgument(where + ".oid: missing"));
      if (!IsValidLfsOid(*entry_.oid)) {
        return Fail(ec,
                    InvalidArgument(where + ".oid: expected 64 lowercase hex digits (SHA-256)"));
      }
      if (!entry_.size) return Fail(ec, InvalidArgument(where + ".size: missing"));
      request.objects.push_back({std::move(*entry_.oid), *entry_.size});
    }
    ValueDone();
    return true;
  }

  bool on_array_begin(boost::system::error_code& ec) {
    if (frames_.empty()) return Fail(ec, InvalidArgument("body: expected a JSON object"));
    const Role role = ValueRole();
    if (role == Role::kObjects) {
      objects_seen = true;
      request.objects.clear();
    } else if (role == Role::kTransfers) {
      request.transfers.clear();
    } else if (role != Role::kIgnored) {
      return Fail(ec, WrongType(role));
    }
    frames_.push_back({true, {}, 0});
    return true;
  }

  bool on_array_end(size_t, boost::system::error_code&) {
    frames_.pop_back();
    ValueDone();
    return true;
  }

  bool on_key_part(boost::json::string_view s, size_t, boost::system::error_code&) {
    frames_.back().key.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, size_t, boost::system::error_code&) {
    frames_.back().key.append(s.data(), s.size());
    return true;
  }

  bool on_string_part(boost::json::string_view s, size_t, boost::system::error_code& ec) {
    const Role role = ValueRole();
    if (role == Role::kIgnored) return true;
    if (!AcceptsString(role)) return Fail(ec, WrongType(role));
    string_.append(s.data(), s.size());
    return true;
  }

  bool on_string(boost::json::string_view s, size_t, boost::system::error_code& ec) {
    const Role role = ValueRole();
    if (role != Role::kIgnored && !AcceptsString(role)) return Fail(ec, WrongType(role));
    string_.append(s.data(), s.size());
    std::string value = std::move(string_);
    string_.clear();
    switch (role) {
      case Role::kOperation:
        operation_seen = true;
        request.operation = std::move(value);
        break;
      case Role::kHashAlgo:
        request.hash_algo = std::move(value);
        break;
      case Role::kRefName:
        request.ref = std::move(value);
        break;
      case Role::kTransferItem:
        request.transfers.push_back(std::move(value));
        break;
      case Role::kEntryOid:
        entry_.oid = std::move(value);
        break;
      default:
        break;
    }
    ValueDone();
    return true;
  }

  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }

  bool on_int64(int64_t v, boost::json::string_view, boost::system::error_code& ec) {
    const Role role = ValueRole();
    if (role == Role::kEntrySize) {
      if (v < 0) return Fail(ec, EntryError("size", "expected a non-negative integer"));
      entry_.size = static_cast<uint64_t>(v);
    } else if (role != Role::kIgnored) {
      return Fail(ec, WrongType(role));
    }
    ValueDone();
    return true;
  }

  bool on_uint64(uint64_t v, boost::json::string_view, boost::system::error_code& ec) {
    const Role role = ValueRole();
    if (role == Role::kEntrySize) {
      if (v > kMaxLfsObjectSize) return Fail(ec, EntryError("size", "too large"));
      entry_.size = v;
    } else if (role != Role::kIgnored) {
      return Fail(ec, WrongType(role));
    }
    ValueDone();
    return true;
  }

  bool on_double(double, boost::json::string_view, boost::system::error_code& ec) {
    return Scalar(ec);
  }
  bool on_bool(bool, boost::system::error_code& ec) { return Scalar(ec); }

  bool on_null(boost::system::error_code& ec) {
    // A null is an absent member; in an array it is an element of the wrong type.
    const Role role = ValueRole();
    if (role == Role::kObjectEntry || role == Role::kTransferItem || frames_.empty()) {
      return Fail(ec, WrongType(role));
    }
    if (role == Role::kEntryOid) entry_.oid.reset();
    if (role == Role::kEntrySize) entry_.size.reset();
    if (role == Role::kOperation) operation_seen = false;
    if (role == Role::kObjects) objects_seen = false;
    ValueDone();
    return true;
  }

  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

 private:
  // What the value about to be read is, from where the parser is.
  enum class Role {
    kDocument,
    kOperation,
    kTransfers,
    kTransferItem,
    kRef,
    kRefName,
    kHashAlgo,
    kObjects,
    kObjectEntry,
    kEntryOid,
    kEntrySize,
    kIgnored,
  };

  struct Frame {
    bool is_array;
    std::string key;  // objects: the member being read
    size_t index;     // arrays: the element being read
  };

  struct Entry {
    std::optional<std::string> oid;
    std::optional<uint64_t> size;
  };

  bool InObjects() const {
    return frames_.size() >= 2 && frames_[0].key == "objects" && frames_[1].is_array;
  }

  Role ValueRole() const {
    switch (frames_.size()) {
      case 0:
        return Role::kDocument;
      case 1: {
        const std::string& k = frames_[0].key;
        if (k == "operation") return Role::kOperation;
        if (k == "transfers") return Role::kTransfers;
        if (k == "ref") return Role::kRef;
        if (k == "hash_algo") return Role::kHashAlgo;
        if (k == "objects") return Role::kObjects;
        return Role::kIgnored;
      }
      case 2:
        if (InObjects()) return Role::kObjectEntry;
        if (frames_[0].key == "transfers" && frames_[1].is_array) return Role::kTransferItem;
        if (frames_[0].key == "ref" && !frames_[1].is_array && frames_[1].key == "name") {
          return Role::kRefName;
        }
        return Role::kIgnored;
      case 3:
        if (InObjects() && !frames_[2].is_array) {
          if (frames_[2].key == "oid") return Role::kEntryOid;
          if (frames_[2].key == "size") return Role::kEntrySize;
        }
        return Role::kIgnored;
      default:
        return Role::kIgnored;
    }
  }

  static bool AcceptsString(Role role) {
    return role == Role::kOperation || role == Role::kHashAlgo || role == Role::kRefName ||
           role == Role::kTransferItem || role == Role::kEntryOid;
  }

  Status EntryError(std::string_view key, std::string_view what) const {
    return InvalidArgument(Indexed("objects", frames_[1].index) + "." + std::string(key) + ": " +
                           std::string(what));
  }

  Status WrongType(Role role) const {
    switch (role) {
      case Role::kDocument:
        return InvalidArgument("body: expected a JSON object");
      case Role::kOperation:
        return InvalidArgument("operation: expected a string");
      case Role::kTransfers:
        return InvalidArgument("transfers: expected an array of strings");
      case Role::kTransferItem:
        return InvalidArgument(Indexed("transfers", frames_[1].index) + ": expected a string");
      case Role::kRef:
        return InvalidArgument("ref: expected a JSON object");
      case Role::kRefName:
        return InvalidArgument("ref.name: expected a string");
      case Role::kHashAlgo:
        return InvalidArgument("hash_algo: expected a string");
      case Role::kObjects:
        return InvalidArgument("objects: expected an array");
      case Role::kObjectEntry:
        return InvalidArgument(Indexed("objects", frames_[1].index) + ": expected a JSON object");
      case Role::kEntryOid:
        return EntryError("oid", "expected a string");
      case Role::kEntrySize:
        return EntryError("size", "expected a non-negative integer");
      case Role::kIgnored:
        break;
    }
    return InvalidArgument("body: unexpected value");
  }

  bool Scalar(boost::system::error_code& ec) {
    const Role role = ValueRole();
    if (role != Role::kIgnored) return Fail(ec, WrongType(role));
    ValueDone();
    return true;
  }

  // After a value: the enclosing object's next member, the enclosing array's next element.
  void ValueDone() {
    if (frames_.empty()) return;
    Frame& f = frames_.back();
    if (f.is_array) {
      ++f.index;
    } else {
      f.key.clear();
    }
  }

  bool Fail(boost::system::error_code& ec, Status s) {
    failure = std::move(s);
    ec = boost::json::error::syntax;  // any error: `failure` says what
    return false;
  }

  std::vector<Frame> frames_;
  Entry entry_;
  std::string string_;
};

}  // namespace

Result<LfsBatchRequest> ParseLfsBatchRequest(std::string_view body) {
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::json::basic_parser<BatchRequestHandler> parser(options);
  boost::system::error_code ec;
  size_t used = parser.write_some(false, body.data(), body.size(), ec);
  BatchRequestHandler& h = parser.handler();
  if (!h.failure.ok()) return h.failure;
  if (ec) return InvalidArgument("body is not valid JSON: " + ec.message());
  if (used != body.size()) return InvalidArgument("body is not valid JSON: trailing data");
  LfsBatchRequest request = std::move(h.request);
  if (!h.operation_seen) return InvalidArgument("operation: missing");
  if (request.operation != "download" && request.operation != "upload") {
    return InvalidArgument("operation: expected \"download\" or \"upload\"");
  }
  if (!request.hash_algo.empty() && request.hash_algo != "sha256") {
    return FailedPrecondition("hash_algo: unsupported hash algorithm \"" +
                              Printable(request.hash_algo) + "\" (only sha256)");
  }
  if (!h.objects_seen) return InvalidArgument("objects: missing");
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
