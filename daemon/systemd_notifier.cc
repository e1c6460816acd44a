#include "daemon/systemd_notifier.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <mutex>

#include "common/log.h"

namespace mirrord {

struct SystemdNotifier::State : std::enable_shared_from_this<State> {
  explicit State(boost::asio::io_context& io) : watchdog_timer(io), status_timer(io) {}

  void Send(const std::string& message) {
    if (!enabled) return;
    // sd_notify answers <0 on a socket error; the service keeps running either way, and a
    // missed WATCHDOG=1 is what systemd is there to notice.
    if (int rc = sd_notify(0, message.c_str()); rc < 0 && !warned) {
      warned = true;
      MLOG(Warning) << "sd_notify failed (" << rc << "): systemd will not see our state";
    }
  }

  void ArmWatchdog() {
    watchdog_timer.expires_after(watchdog_interval / 2);
    watchdog_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->Send("WATCHDOG=1");
      self->ArmWatchdog();
    });
  }

  void ArmStatus() {
    status_timer.expires_after(status_period);
    status_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->Send("STATUS=" + self->status());
      self->ArmStatus();
    });
  }

  const bool enabled = std::getenv("NOTIFY_SOCKET") != nullptr;
  bool warned = false;
  boost::asio::steady_timer watchdog_timer;
  boost::asio::steady_timer status_timer;
  std::chrono::microseconds watchdog_interval{0};
  std::function<std::string()> status;
  std::chrono::milliseconds status_period{0};
};

SystemdNotifier::SystemdNotifier(boost::asio::io_context& io)
    : state_(std::make_shared<State>(io)) {}

SystemdNotifier::~SystemdNotifier() { Stop(); }

bool SystemdNotifier::enabled() const { return state_->enabled; }

void SystemdNotifier::Ready(std::string_view status) {
  state_->Send("READY=1\nSTATUS=" + std::string(status));
}

void SystemdNotifier::SetStatus(std::string_view status) {
  state_->Send("STATUS=" + std::string(status));
}

void SystemdNotifier::Stopping() { state_->Send("STOPPING=1\nSTATUS=stopping"); }

std::chrono::microseconds SystemdNotifier::StartWatchdog() {
  uint64_t usec = 0;
  if (!state_->enabled || sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
    return std::chrono::microseconds(0);
  }
  state_->watchdog_interval = std::chrono::microseconds(usec);
  state_->Send("WATCHDOG=1");
  state_->ArmWatchdog();
  return state_->watchdog_interval;
}

void SystemdNotifier::StartStatusUpdates(std::function<std::string()> status,
                                         std::chrono::milliseconds period) {
  if (!state_->enabled) return;
  state_->status = std::move(status);
  state_->status_period = period;
  state_->ArmStatus();
}

void SystemdNotifier::Stop() {
  state_->watchdog_timer.cancel();
  state_->status_timer.cancel();
}

}  // namespace mirrord
