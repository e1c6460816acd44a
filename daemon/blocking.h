// RunBlocking: runs blocking work (libgit2, SQLite, fsync, hashing) on the bounded worker
// pool and resumes the calling coroutine on its own executor with the result.
//
// The hop to the pool binds the completion to the pool's executor: a plain
// `co_await post(pool, use_awaitable)` would only bounce through the pool and resume the
// coroutine on its own executor (a use_awaitable handler's associated executor wins), so
// `fn` would run on the network thread after all.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>
#include <utility>

namespace mirrord {

// `fn` must not throw. It runs on a thread of `pool`; its result is moved back to the
// caller's executor, where the caller resumes.
template <typename Fn>
boost::asio::awaitable<std::invoke_result_t<Fn>> RunBlocking(boost::asio::thread_pool& pool,
                                                             Fn fn) {
  using R = std::invoke_result_t<Fn>;
  auto caller = co_await boost::asio::this_coro::executor;
  co_await boost::asio::post(
      boost::asio::bind_executor(pool.get_executor(), boost::asio::use_awaitable));
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
