#include "deploy/tar_layer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <set>

#include "common/lfs_pointer.h"
#include "common/sha256.h"

namespace mirrord {
namespace {

namespace json = boost::json;

constexpr int kSpecVersion = 1;

std::string_view TypeName(TarEntryType t) {
  switch (t) {
    case TarEntryType::kFile:
      return "file";
    case TarEntryType::kSymlink:
      return "symlink";
    case TarEntryType::kDirectory:
      return "dir";
  }
  return "?";
}

// The canonical spec: fixed key order, no whitespace.
std::string SpecJson(const std::vector<TarLayerEntry>& entries) {
  json::array list;
  for (const TarLayerEntry& e : entries) {
    json::object o;
    o["type"] = TypeName(e.entry.type);
    o["path"] = e.entry.path;
    o["mode"] = e.entry.mode;
    if (e.entry.type == TarEntryType::kFile) {
      o["oid"] = e.oid;
      o["size"] = e.entry.size;
    }
    if (e.entry.type == TarEntryType::kSymlink) o["target"] = e.entry.link_target;
    list.push_back(std::move(o));
  }
  json::object spec;
  spec["version"] = kSpecVersion;
  spec["entries"] = std::move(list);
  return json::serialize(spec);
}

void AppendBytes(std::vector<TarSegment>& segments, std::string_view bytes) {
  if (bytes.empty()) return;
  if (segments.empty() || !segments.back().oid.empty() || segments.back().file != nullptr) {
    segments.emplace_back();
  }
  segments.back().bytes.append(bytes);
  segments.back().length += bytes.size();
}

bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Result<TarLayerEntry> FileBackedTarEntry(std::string path, uint32_t mode,
                                         const std::filesystem::path& source,
                                         std::string pinned_sha256) {
  if (!pinned_sha256.empty() && !IsLowerHex64(pinned_sha256)) {
    return InvalidArgument("layer file " + path + ": pinned sha256 is not 64 lowercase hex digits");
  }
  auto content = std::make_shared<TarFileContent>();
  content->path = source;
  content->sha256 = std::move(pinned_sha256);
  // O_NONBLOCK: a FIFO in place of the file must not block the build (refused below).
  content->fd = UniqueFd(::open(source.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!content->fd.valid()) return ErrnoStatus(errno, "open " + source.string());
  struct stat st {};
  if (::fstat(content->fd.get(), &st) != 0) return ErrnoStatus(errno, "stat " + source.string());
  if (!S_ISREG(st.st_mode)) return InvalidArgument(source.string() + " is not a regular file");
  content->size = static_cast<uint64_t>(st.st_size);
  // An empty content has no segment to check it as it is read: check it here.
  if (content->size == 0 && !content->sha256.empty() && content->sha256 != Sha256Hex("")) {
    return DataLoss("file " + source.string() + " has sha256 " + Sha256Hex("") + ", pinned " +
                    content->sha256);
  }
  TarLayerEntry e;
  e.entry.path = std::move(path);
  e.entry.mode = mode;
  e.entry.size = content->size;
  e.file = std::move(content);
  return e;
}

Result<TarLayer> TarLayer::Create(std::vector<TarLayerEntry> entries) {
  TarLayer layer;
  std::set<std::string> paths;
  for (const TarLayerEntry& e : entries) {
    if (!paths.insert(e.entry.path).second) {
      return InvalidArgument("layer has path " + e.entry.path + " twice");
    }
    ASSIGN_OR_RETURN(std::string header, TarHeader(e.entry));
    AppendBytes(layer.segments_, header);
    if (e.entry.type != TarEntryType::kFile) {
      if (!e.oid.empty() || e.has_inline || e.file != nullptr) {
        return InvalidArgument("layer entry " + e.entry.path + " is not a file but has content");
      }
      continue;
    }
    if (int{e.has_inline} + int{!e.oid.empty()} + int{e.file != nullptr} != 1) {
      return InvalidArgument("layer file " + e.entry.path +
                             " needs exactly one of a stored object, inline content and a file");
    }
    if (e.file != nullptr) {
      if (e.file->size != e.entry.size || !e.file->fd.valid()) {
        return InvalidArgument("layer file " + e.entry.path + ": its file is not its size");
      }
      layer.has_inline_ = true;
      if (e.entry.size > 0) layer.segments_.push_back({{}, {}, 0, e.entry.size, e.file});
    } else if (e.has_inline) {
      if (e.inline_data.size() != e.entry.size) {
        return InvalidArgument("layer file " + e.entry.path + ": inline content is not its size");
      }
      layer.has_inline_ = true;
      AppendBytes(layer.segments_, e.inline_data);
    } else {
      if (!IsValidLfsOid(e.oid)) {
        return InvalidArgument("layer file " + e.entry.path + ": invalid oid");
      }
      if (e.entry.size > 0) layer.segments_.push_back({{}, e.oid, 0, e.entry.size, nullptr});
    }
    AppendBytes(layer.segments_, std::string(TarPaddingSize(e.entry.size), '\0'));
  }
  AppendBytes(layer.segments_, std::string(kTarEndOfArchiveSize, '\0'));
  for (const TarSegment& s : layer.segments_) layer.size_ += s.length;
  if (!layer.has_inline_) {
    layer.spec_ = SpecJson(entries);
    layer.spec_key_ = Sha256Hex(layer.spec_);
  }
  layer.entries_ = std::move(entries);
  return layer;
}

Result<TarLayer> TarLayer::FromSpec(std::string_view spec_json) {
  json::parse_options options;
  options.allow_invalid_utf8 = true;  // git paths are bytes
  boost::system::error_code ec;
  json::value v = json::parse(spec_json, ec, {}, options);
  auto bad = [](std::string why) { return InvalidArgument("tar layer spec: " + why); };
  if (ec || !v.is_object()) return bad("not a JSON object");
  const json::object& o = v.as_object();
  const json::value* version = o.if_contains("version");
  const json::value* list = o.if_contains("entries");
  if (version == nullptr || !version->is_int64() || version->as_int64() != kSpecVersion) {
    return bad("unknown version");
  }
  if (list == nullptr || !list->is_array()) return bad("no entries");
  std::vector<TarLayerEntry> entries;
  for (const json::value& item : list->as_array()) {
    if (!item.is_object()) return bad("entry is not an object");
    const json::object& e = item.as_object();
    auto str = [&](std::string_view key) -> std::optional<std::string> {
      const json::value* f = e.if_contains(key);
      if (f == nullptr || !f->is_string()) return std::nullopt;
      return std::string(f->as_string());
    };
    auto num = [&](std::string_view key) -> std::optional<uint64_t> {
      const json::value* f = e.if_contains(key);
      if (f == nullptr) return std::nullopt;
      if (f->is_uint64()) return f->as_uint64();
      if (f->is_int64() && f->as_int64() >= 0) return static_cast<uint64_t>(f->as_int64());
      return std::nullopt;
    };
    auto type = str("type");
    auto path = str("path");
    auto mode = num("mode");
    if (!type || !path || !mode || *mode > 07777) return bad("entry without type, path or mode");
    TarLayerEntry entry;
    entry.entry.path = *path;
    entry.entry.mode = static_cast<uint32_t>(*mode);
    if (*type == "dir") {
      entry.entry.type = TarEntryType::kDirectory;
    } else if (*type == "symlink") {
      auto target = str("target");
      if (!target) return bad("symlink without target");
      entry.entry.type = TarEntryType::kSymlink;
      entry.entry.link_target = *target;
    } else if (*type == "file") {
      auto oid = str("oid");
      auto size = num("size");
      if (!oid || !size) return bad("file without oid or size");
      entry.entry.type = TarEntryType::kFile;
      entry.oid = *oid;
      entry.entry.size = *size;
    } else {
      return bad("unknown entry type");
    }
    entries.push_back(std::move(entry));
  }
  return Create(std::move(entries));
}

std::vector<TarPiece> TarLayer::Pieces(uint64_t begin, uint64_t end) const {
  std::vector<TarPiece> out;
  uint64_t pos = 0;
  for (size_t i = 0; i < segments_.size() && pos < end; ++i) {
    uint64_t seg_end = pos + segments_[i].length;
    if (seg_end > begin) {
      uint64_t from = std::max(begin, pos);
      uint64_t to = std::min(end, seg_end);
      if (to > from) out.push_back({i, from - pos, to - from});
    }
    pos = seg_end;
  }
  return out;
}

Status ReadTarLayer(const TarLayer& layer, const BlobStore& store, uint64_t begin, uint64_t end,
                    const std::function<Status(std::string_view)>& sink) {
  if (begin > end || end > layer.size()) {
    return InvalidArgument("range outside the layer of " + std::to_string(layer.size()) + " bytes");
  }
  for (const TarPiece& piece : layer.Pieces(begin, end)) {
    const TarSegment& seg = layer.segments()[piece.segment];
    if (seg.file != nullptr) {
      const TarFileContent& file = *seg.file;
      const std::string what = "file " + file.path.string();
      // The pin is checked on the bytes fed, read once from the descriptor opened for the
      // layer: what is checked is what the sink got.
      if (file.sha256.empty() || piece.offset != 0 || piece.length != seg.length) {
        RETURN_IF_ERROR(
            ReadFileRange(file.fd.get(), seg.offset + piece.offset, piece.length, sink, what));
        continue;
      }
      Sha256 hash;
      RETURN_IF_ERROR(ReadFileRange(
          file.fd.get(), seg.offset, seg.length,
          [&](std::string_view chunk) {
            hash.Update(chunk);
            return sink(chunk);
          },
          what));
      std::string actual = hash.FinishHex();
      if (actual != file.sha256) {
        return DataLoss(what + " has sha256 " + actual + ", pinned " + file.sha256);
      }
      continue;
    }
    if (seg.oid.empty()) {
      RETURN_IF_ERROR(sink(std::string_view(seg.bytes).substr(piece.offset, piece.length)));
      continue;
    }
    ASSIGN_OR_RETURN(UniqueFd fd, store.OpenObject(seg.oid));
    RETURN_IF_ERROR(ReadFileRange(fd.get(), seg.offset + piece.offset, piece.length, sink,
                                  "stored object " + seg.oid));
  }
  return Status::Ok();
}

}  // namespace mirrord
