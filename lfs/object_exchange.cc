#include "lfs/object_exchange.h"

#include <strings.h>

#include <algorithm>

#include "http/response_headers.h"
#include "lfs/http_range.h"

namespace mirrord {
namespace {

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::vector<std::string> ObjectRequestHeaders(const LfsDownloadAction& action,
                                              std::optional<ByteRange> range) {
  std::vector<std::string> lines;
  for (const auto& [name, value] : action.header) {
    if (name.empty() || name.find_first_of("\r\n:") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos || EqualsNoCase(name, "Range")) {
      continue;
    }
    lines.push_back(name + ": " + value);
  }
  if (range && range->end > range->begin) {
    lines.push_back("Range: bytes=" + std::to_string(range->begin) + "-" +
                    std::to_string(range->end - 1));
  }
  return lines;
}

ObjectResponseVerdict CheckObjectResponse(const ObjectResponseHead& head, uint64_t object_size,
                                          std::optional<ByteRange> requested) {
  using Kind = ObjectResponseVerdict::Kind;
  ObjectResponseVerdict v;
  if (head.code == 206) {
    Result<ContentRange> cr = ParseContentRange(head.content_range);
    if (!cr.ok() || cr->unsatisfied) {
      v.kind = Kind::kRetry;
      v.status = Unavailable("206 answer with an unusable Content-Range \"" +
                             FirstLineOf(head.content_range) + "\"");
      return v;
    }
    if (cr->total.has_value() && *cr->total != object_size) {
      v.kind = Kind::kFatal;
      v.status = DataLoss("the upstream's object has " + std::to_string(*cr->total) +
                          " bytes; its pointer says " + std::to_string(object_size));
      return v;
    }
    const uint64_t want = requested ? requested->begin : 0;
    if (cr->begin > want || cr->end <= want) {
      v.kind = Kind::kRetry;
      v.status = Unavailable("asked for bytes from " + std::to_string(want) +
                             ", got Content-Range \"" + FirstLineOf(head.content_range) + "\"");
      return v;
    }
    v.base = cr->begin;
    v.body_end = cr->end;
    return v;
  }
  if (head.code == 200) {
    if (head.content_length >= 0 && static_cast<uint64_t>(head.content_length) != object_size) {
      v.kind = Kind::kFatal;
      v.status = DataLoss("the upstream sent " + std::to_string(head.content_length) +
                          " bytes for an object whose pointer says " + std::to_string(object_size));
      return v;
    }
    if (requested && requested->begin != 0) {
      v.kind = Kind::kRangeIgnored;
      return v;
    }
    v.base = 0;
    v.body_end = object_size;
    return v;
  }
  if (head.code == 416) {
    v.kind = Kind::kUnsatisfiable;
    return v;
  }
  if (head.code >= 200 && head.code < 300) {
    v.kind = Kind::kRetry;
    v.status = Unavailable("unexpected HTTP " + std::to_string(head.code) + " to an object GET");
    return v;
  }
  v.kind = Kind::kErrorBody;
  return v;
}

PieceWriter::PieceWriter(PartialBlob* blob, std::vector<ByteRange> targets,
                         uint64_t commit_interval)
    : blob_(blob),
      targets_(std::move(targets)),
      commit_interval_(std::max<uint64_t>(1, commit_interval)) {
  synced_end_ = run_begin_ = run_end_ = targets_.empty() ? 0 : targets_.front().begin;
  complete_ = targets_.empty();
}

Status PieceWriter::Finish() {
  if (run_end_ > synced_end_) RETURN_IF_ERROR(blob_->CommitRange({synced_end_, run_end_}));
  synced_end_ = run_begin_ = run_end_;
  return Status::Ok();
}

Status PieceWriter::Write(uint64_t base, std::string_view data) {
  const uint64_t from = base + stream_;
  const uint64_t to = from + data.size();
  stream_ += data.size();
  for (const ByteRange& t : targets_) {
    const uint64_t a = std::max(from, t.begin);
    const uint64_t b = std::min(to, t.end);
    if (a >= b) continue;
    if (a != run_end_) {
      RETURN_IF_ERROR(Finish());
      synced_end_ = run_begin_ = run_end_ = a;
    }
    RETURN_IF_ERROR(blob_->WriteAt(a, data.substr(a - from, b - a)));
    run_end_ = b;
    written_ += b - a;
    if (run_end_ - run_begin_ >= commit_interval_) {
      // Mid-body: never wait for another connection's fdatasync (the socket would fill
      // meanwhile); the end of the exchange (Finish) waits for everything queued.
      RETURN_IF_ERROR(blob_->CommitRangeWhenConvenient({run_begin_, run_end_}));
      run_begin_ = run_end_;
    }
  }
  if (!targets_.empty() && to >= targets_.back().end) complete_ = true;
  return Status::Ok();
}

}  // namespace mirrord
