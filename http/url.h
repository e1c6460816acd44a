// URL facts an HTTP client acts on, parsed once with Boost.URL: the origin that credentials
// are bound to, and the host key that connections are counted under.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace mirrord {

// True for an absolute "http://..." or "https://..." URL (scheme case-insensitive).
bool IsHttpUrl(std::string_view url);

// "scheme://host:port" of an http(s) URL, lower case, the scheme's default port filled in
// (an IPv6 host keeps its brackets); "" when the URL does not parse, is not http(s) or has
// no host. Credentials only ever go to the origin they were configured for.
std::string UrlOrigin(std::string_view url);

// True when both URLs parse and have the same origin (never for two unparsable URLs).
bool SameOrigin(std::string_view a, std::string_view b);

// `s` percent-encoded for a query parameter value: everything but RFC 3986 unreserved
// characters (A-Z a-z 0-9 - _ . ~) becomes %XX (upper-case hex).
std::string QueryEscape(std::string_view s);

// The key a URL's connections are counted under: its lower-case "host:port" (default port
// filled in), or the URL itself when it does not parse.
std::string UrlHostKey(std::string_view url);

}  // namespace mirrord
