// SystemdNotifier: mirrord's side of systemd's Type=notify protocol (sd_notify(3)): READY=1
// once the port is open, STATUS= lines ("12 repos, 2 syncing") every few seconds, STOPPING=1
// and RELOADING=1, and WATCHDOG=1 pings sent FROM the event loop at half of WatchdogSec, so
// that a wedged io_context stops the pings and systemd restarts the service. Without
// $NOTIFY_SOCKET (not started by systemd, or a test) every call does nothing.
// Thread-safety: all methods may be called from any thread; the timers run on the
// io_context given at construction.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace mirrord {

class SystemdNotifier {
 public:
  explicit SystemdNotifier(boost::asio::io_context& io);
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // True when systemd listens ($NOTIFY_SOCKET is set).
  bool enabled() const;

  // READY=1 with a first STATUS=.
  void Ready(std::string_view status);
  void SetStatus(std::string_view status);
  void Stopping();

  // Starts the watchdog pings if systemd asked for them ($WATCHDOG_USEC for this process):
  // WATCHDOG=1 every half interval from a timer on the io_context. Returns the interval
  // (zero: no watchdog).
  std::chrono::microseconds StartWatchdog();

  // Every `period`, calls `status` (on the io_context: it must not block; read counters,
  // never the catalog) and sends its answer as STATUS=.
  void StartStatusUpdates(std::function<std::string()> status, std::chrono::milliseconds period);

  // Cancels the timers (before the io_context stops).
  void Stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace mirrord
