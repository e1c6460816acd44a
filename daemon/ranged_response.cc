// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "daemon/ranged_response.h"

#include <utility>

#include "lfs/http_range.h"

namespace mirrord {

namespace net = boost::asio;

namespace {

// The 416 answer for an object of `size` bytes.
HttpResponse Unsatisfiable(const RangeErrorFactory& range_error, uint64_t size) {
  HttpResponse res = range_error();
  res.result(http::status::range_not_satisfiable);
  res.set(http::field::content_range, UnsatisfiedContentRangeHeader(size));
  return res;
}

// Sets the status (200 or 206), Content-Range and Accept-Ranges of a satisfiable `range` of
// a `size`-byte body; returns the [begin, end) to send.
std::pair<uint64_t, uint64_t> ApplyRange(HttpResponse& res, const HttpRangeSelection& range,
                                         uint64_t size) {
  res.set(http::field::accept_ranges, "bytes");
  if (range.kind == HttpRangeSelection::Kind::kPartial) {
    res.result(http::status::partial_content);
    res.set(http::field::content_range, ContentRangeHeader(range.begin, range.end, size));
    return {range.begin, range.end};
  }
  res.result(http::status::ok);
  return {0, size};
}

}  // namespace

net::awaitable<void> SendRangedFile(HttpExchange& ex, http::response<http::empty_body> header,
                                    int fd, uint64_t size, const RangeErrorFactory& range_error) {
  HttpRangeSelection range = SelectHttpRange(ex.request()[http::field::range], size);
  header.set(http::field::accept_ranges, "bytes");
  switch (range.kind) {
    case HttpRangeSelection::Kind::kUnsatisfiable:
      co_return co_await ex.Respond(Unsatisfiable(range_error, size));
    case HttpRangeSelection::Kind::kPartial:
      header.result(http::status::partial_content);
      header.set(http::field::content_range, ContentRangeHeader(range.begin, range.end, size));
      co_await ex.SendFile(std::move(header), fd, range.begin, range.end - range.begin);
      co_return;
    case HttpRangeSelection::Kind::kWhole:
      header.result(http::status::ok);
      co_await ex.SendFile(std::move(header), fd, 0, size);
      co_return;
  }
}

net::awaitable<void> SendRangedHead(HttpExchange& ex, http::response<http::empty_body> header,
                                    uint64_t size, const RangeErrorFactory& range_error) {
  HttpRangeSelection range = SelectHttpRange(ex.request()[http::field::range], size);
  if (range.kind == HttpRangeSelection::Kind::kUnsatisfiable) {
    co_return co_await ex.Respond(Unsatisfiable(range_error, size));
  }
  HttpResponse res(std::move(header));
  auto [begin, end] = ApplyRange(res, range, size);
  res.content_length(end - begin);
  co_await ex.Respond(std::move(res));
}

net::awaitable<void> SendRangedBytes(HttpExchange& ex, http::response<http::empty_body> header,
                                     std::string body, const RangeErrorFactory& range_error) {
  const uint64_t size = body.size();
  HttpRangeSelection range = SelectHttpRange(ex.request()[http::field::range], size);
  if (range.kind == HttpRangeSelection::Kind::kUnsatisfiable) {
    co_return co_await ex.Respond(Unsatisfiable(range_error, size));
  }
  HttpResponse res(std::move(header));
  auto [begin, end] = ApplyRange(res, range, size);
  res.body() = begin == 0 && end == size ? std::move(body) : body.substr(begin, end - begin);
  res.content_length(res.body().size());
  co_await ex.Respond(std::move(res));
}

}  // namespace mirrord
