#include "http/curl_handles.h"

#include <mutex>

namespace mirrord {

Status EnsureCurlInitialized() {
  static std::once_flag once;
  static Status outcome;
  std::call_once(once, [] {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
      outcome = Internal(std::string("curl_global_init: ") + curl_easy_strerror(rc));
    }
  });
  return outcome;
}

Result<CurlSlistPtr> MakeHeaderList(const std::vector<std::string>& lines) {
  CurlSlistPtr list;
  for (const std::string& line : lines) {
    curl_slist* grown = curl_slist_append(list.get(), line.c_str());
    if (grown == nullptr) return ResourceExhausted("cannot allocate a curl header list");
    (void)list.release();
    list.reset(grown);
  }
  return list;
}

CurlSharePtr MakeConnectionShare() {
  CURLSH* share = curl_share_init();
  if (share == nullptr) return nullptr;
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  return CurlSharePtr(share, CurlShareDeleter());
}

}  // namespace mirrord
