// RunBlocking: runs blocking work (libgit2, SQLite, fsync, hashing) on the bounded worker
// pool and resumes the calling coroutine on its own executor with the result.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>
#include <utility>

namespace mirrord {

// `fn` must not throw. Its result is moved back to the caller's executor.
template <typename Fn>
boost::asio::awaitable<std::invoke_result_t<Fn>> RunBlocking(boost::asio::thread_pool& pool,
                                                             Fn fn) {
  using R = std::invoke_result_t<Fn>;
  auto caller = co_await boost::asio::this_coro::executor;
  co_await boost::asio::post(pool, boost::asio::use_awaitable);
  if constexpr (std::is_void_v<R>) {
    fn();
    co_await boost::asio::post(caller, boost::asio::use_awaitable);
  } else {
    std::optional<R> result(fn());
    co_await boost::asio::post(caller, boost::asio::use_awaitable);
    co_return std::move(*result);
  }
}

}  // namespace mirrord
