// The behaviour every JobQueue backend must have (storage/job_queue.h), as a value-
// parameterised GoogleTest suite. The tests are in job_queue_conformance_test.cc; each
// backend instantiates the suite in its own test file:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, JobQueueConformanceTest,
//                            ::testing::Values(JobQueueBackend{"sqlite", &MakeSqliteStore}),
//                            BackendName);
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/job_queue.h"

namespace mirrord {

// One fresh, empty backing store (a catalog file, a Redis database) that any number of
// queue connections can be opened on: each connection stands for one mirrord node.
class JobQueueTestStore {
 public:
  virtual ~JobQueueTestStore() = default;
  virtual Result<std::unique_ptr<JobQueue>> Connect() = 0;
};

struct JobQueueBackend {
  std::string name;
  std::function<Result<std::unique_ptr<JobQueueTestStore>>()> make_store;
};

inline std::string PrintToString(const JobQueueBackend& b) { return b.name; }
// Test names: JobQueueConformanceTest.<Test>/<backend name>. Pass as the third argument of
// INSTANTIATE_TEST_SUITE_P.
inline std::string BackendName(const ::testing::TestParamInfo<JobQueueBackend>& p) {
  return p.param.name;
}

class JobQueueConformanceTest : public ::testing::TestWithParam<JobQueueBackend> {
 protected:
  void SetUp() override {
    auto store = GetParam().make_store();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    auto q = store_->Connect();
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    q_ = std::move(*q);
  }

  std::unique_ptr<JobQueueTestStore> store_;
  std::unique_ptr<JobQueue> q_;  // "node A"
};

}  // namespace mirrord
