// Placeholder until the registry client lands (issue 14): every push fails with
// FailedPrecondition, so that the push job's wiring can be built against the seam.
#include "deploy/image_pusher.h"

namespace mirrord {
namespace {

class UnbuiltPusher final : public ImagePusher {
 public:
  Result<PushReport> Push(const RegistryTarget&, const PushRequest&,
                          const std::function<void(const PushProgress&)>&,
                          const std::atomic<bool>*) override {
    return FailedPrecondition("pushing to a registry is not built yet");
  }
};

}  // namespace

std::unique_ptr<ImagePusher> MakeRegistryPusher(Catalog&, const BlobStore&, const OciStore&) {
  return std::make_unique<UnbuiltPusher>();
}

}  // namespace mirrord
