#include "http/www_authenticate.h"

namespace mirrord {
namespace {

// RFC 9110 tchar.
bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken68Char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view v) : v_(v) {}

  Result<std::vector<AuthChallenge>> Run() {
    std::vector<AuthChallenge> out;
    SkipListSeparators();
    while (!AtEnd()) {
      if (out.size() == kMaxAuthChallenges) {
        return ResourceExhausted("WWW-Authenticate: more than " +
                                 std::to_string(kMaxAuthChallenges) + " challenges");
      }
      AuthChallenge c;
      std::string_view scheme = Token();
      if (scheme.empty()) return Bad("a challenge without a scheme");
      c.scheme = Lower(scheme);
      size_t spaces = SkipSpaces();
      if (!AtEnd() && Peek() != ',') {
        if (spaces == 0) return Bad("no space after the scheme");
        if (auto t68 = Token68()) {
          c.token68 = std::string(*t68);
        } else {
          RETURN_IF_ERROR(Params(&c));
        }
      }
      out.push_back(std::move(c));
      SkipListSeparators();
    }
    return out;
  }

 private:
  bool AtEnd() const { return pos_ >= v_.size(); }
  char Peek() const { return v_[pos_]; }
  static Status Bad(const std::string& what) {
    return InvalidArgument("WWW-Authenticate: " + what);
  }

  size_t SkipSpaces() {
    size_t n = 0;
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t')) ++pos_, ++n;
    return n;
  }
  void SkipListSeparators() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == ',')) ++pos_;
  }
  std::string_view Token() {
    size_t start = pos_;
    while (!AtEnd() && IsTchar(Peek())) ++pos_;
    return v_.substr(start, pos_ - start);
  }

  // A token68 that makes up the whole challenge (followed by the end or a comma); nullopt
  // (position unchanged) when what follows is a parameter list.
  std::optional<std::string_view> Token68() {
    size_t start = pos_;
    size_t p = pos_;
    while (p < v_.size() && IsToken68Char(v_[p])) ++p;
    if (p == start) return std::nullopt;
    while (p < v_.size() && v_[p] == '=') ++p;
    size_t end = p;
    while (p < v_.size() && (v_[p] == ' ' || v_[p] == '\t')) ++p;
    if (p < v_.size() && v_[p] != ',') return std::nullopt;
    // "x=" followed by the end or a comma reads as a token68 (an auth-param needs a value).
    std::string_view t = v_.substr(start, end - start);
    pos_ = p;
    return t;
  }

  // True when the text at the position is `token BWS "="` (another parameter rather than the
  // next challenge's scheme).
  bool ParamAhead() const {
    size_t p = pos_;
    while (p < v_.size() && IsTchar(v_[p])) ++p;
    if (p == pos_) return false;
    while (p < v_.size() && (v_[p] == ' ' || v_[p] == '\t')) ++p;
    return p < v_.size() && v_[p] == '=';
  }

  Status Params(AuthChallenge* c) {
    for (;;) {
      std::string_view name = Token();
      if (name.empty()) return Bad("a parameter without a name");
      SkipSpaces();
      if (AtEnd() || Peek() != '=') return Bad("parameter " + Lower(name) + " without '='");
      ++pos_;
      SkipSpaces();
      std::string value;
      if (!AtEnd() && Peek() == '"') {
        ++pos_;
        bool closed = false;
        while (!AtEnd()) {
          char ch = v_[pos_++];
          if (ch == '"') {
            closed = true;
            break;
          }
          if (ch == '\\') {
            if (AtEnd()) break;
            ch = v_[pos_++];
          }
          if ((static_cast<unsigned char>(ch) < 0x20 && ch != '\t') || ch == 0x7f) {
            return Bad("a control character in a quoted string");
          }
          value += ch;
        }
        if (!closed) return Bad("an unterminated quoted string");
      } else {
        value = std::string(Token());
        if (value.empty()) return Bad("parameter " + Lower(name) + " without a value");
      }
      if (c->params.size() == kMaxAuthParams) {
        return ResourceExhausted("WWW-Authenticate: more than " + std::to_string(kMaxAuthParams) +
                                 " parameters in a challenge");
      }
      c->params.emplace_back(Lower(name), std::move(value));
      SkipSpaces();
      if (AtEnd()) return Status::Ok();
      if (Peek() != ',') return Bad("parameters not separated by commas");
      size_t comma = pos_;
      SkipListSeparators();
      if (AtEnd()) return Status::Ok();
      if (!ParamAhead()) {
        pos_ = comma;  // the next challenge starts after this comma
        return Status::Ok();
      }
    }
  }

  std::string_view v_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<std::string_view> AuthChallenge::Param(std::string_view name) const {
  for (const auto& [n, v] : params) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

Result<std::vector<AuthChallenge>> ParseWwwAuthenticate(std::string_view value) {
  if (value.size() > kMaxWwwAuthenticateBytes) {
    return ResourceExhausted("WWW-Authenticate: longer than " +
                             std::to_string(kMaxWwwAuthenticateBytes) + " bytes");
  }
  return Parser(value).Run();
}

}  // namespace mirrord
