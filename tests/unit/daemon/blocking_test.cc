// RunBlocking: the work runs on a thread of the pool, never on the caller's (network)
// thread, and the caller resumes on its own executor with the result.
#include "daemon/blocking.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

namespace mirrord {
namespace {

TEST(RunBlockingTest, WorkRunsOnThePoolAndTheCallerResumesOnItsOwnThread) {
  boost::asio::io_context io;
  boost::asio::thread_pool pool(2);
  const std::thread::id io_thread = std::this_thread::get_id();
  std::thread::id work_thread;
  std::thread::id resumed_on;
  int result = 0;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        result = co_await RunBlocking(pool, [&] {
          work_thread = std::this_thread::get_id();
          return 42;
        });
        resumed_on = std::this_thread::get_id();
        co_await RunBlocking(pool, [&] { EXPECT_NE(std::this_thread::get_id(), io_thread); });
      },
      boost::asio::detached);
  io.run();
  pool.join();
  EXPECT_EQ(result, 42);
  EXPECT_NE(work_thread, std::thread::id());
  EXPECT_NE(work_thread, io_thread);
  EXPECT_EQ(resumed_on, io_thread);
}

}  // namespace
}  // namespace mirrord
