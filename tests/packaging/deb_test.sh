#!/usr/bin/env bash
# The Debian package, as an operator gets it: builds build/mirrord_*.deb with CPack, checks
# its contents and dependencies, verifies its unit with systemd-analyze (`verify`, and
# `security` exposure <= 2.0), and — in CI, as root, where no mirrord package is installed
# yet — installs it with dpkg -i, checks the service user, state directory and enabled
# unit, runs the installed binary as that user, then purges the package again.
#   tests/packaging/deb_test.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -f "$build"/mirrord_*.deb
cpack --config "$build/CPackConfig.cmake" >"$build/cpack.log" 2>&1 || { cat "$build/cpack.log"; fail "cpack"; }
deb=$(ls "$build"/mirrord_*.deb) || fail "no .deb produced"
echo "built $deb ($(du -h "$deb" | cut -f1))"

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/mirrord ./usr/bin/mirrorctl ./usr/lib/systemd/system/mirrord.service \
         ./usr/lib/sysusers.d/mirrord.conf ./usr/lib/tmpfiles.d/mirrord.conf \
         ./etc/mirrord/mirrord.toml ./usr/share/doc/mirrord/README.md; do
  grep -qxF "$f" <<<"$contents" || fail "$f missing from the package"
done
depends=$(dpkg-deb -f "$deb" Depends)
grep -qE '(^|, )git(,|$| )' <<<"$depends" || fail "git is not a declared dependency: $depends"
# Listed first, then searched: `grep -q` leaving a pipe early would kill tar with SIGPIPE, and
# pipefail would report that as a missing file.
control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t) || fail "cannot list the control archive"
grep -qx './conffiles' <<<"$control" || fail "no conffiles"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/root"
unit="$tmp/root/usr/lib/systemd/system/mirrord.service"
grep -qx 'ExecStart=/usr/bin/mirrord --config /etc/mirrord/mirrord.toml' "$unit" || fail "ExecStart"
grep -qx 'Type=notify' "$unit" || fail "Type=notify"
score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null |
        sed -n 's/.*Overall exposure level for mirrord.service: \([0-9.]*\).*/\1/p')
[[ -n "$score" ]] || fail "systemd-analyze security gave no score"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score > 2.0"
echo "systemd-analyze security: exposure $score"

if [[ "${CI:-}" != "true" || $(id -u) -ne 0 ]]; then
  echo "not installing (only in CI as root); package checks passed"
  exit 0
fi
if dpkg-query -W -f='${Status}' mirrord 2>/dev/null | grep -q "install ok installed"; then
  echo "a mirrord package is already installed here: not touching it; package checks passed"
  exit 0
fi
trap 'dpkg --purge mirrord >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
dpkg -i "$deb" || fail "dpkg -i"
getent passwd mirrord >/dev/null || fail "no mirrord user"
[[ $(stat -c %U /var/lib/mirrord) == mirrord ]] || fail "/var/lib/mirrord not owned by mirrord"
[[ -L /etc/systemd/system/multi-user.target.wants/mirrord.service ]] || fail "unit not enabled"
systemd-analyze verify /usr/lib/systemd/system/mirrord.service || fail "systemd-analyze verify"
/usr/bin/mirrord --config /etc/mirrord/mirrord.toml --check-config || fail "installed config"
# Run it as the service would (its user, its state directory); port 0 instead of 8080.
sed 's/^listen = .*/listen = "127.0.0.1:0"/' /etc/mirrord/mirrord.toml >"$tmp/run.toml"
chmod 644 "$tmp/run.toml"; chmod 755 "$tmp"
setpriv --reuid=mirrord --regid=mirrord --init-groups /usr/bin/mirrord --config "$tmp/run.toml" 2>"$tmp/log" &
pid=$!
for _ in $(seq 300); do grep -q "listening on" "$tmp/log" && break; sleep 0.1; done
grep -q "listening on" "$tmp/log" || { cat "$tmp/log"; kill $pid; fail "installed mirrord did not start"; }
port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/log")
curl -fsS "http://127.0.0.1:$port/healthz" | grep -qx ok || fail "healthz"
kill -TERM $pid; wait $pid || { cat "$tmp/log"; fail "mirrord did not stop cleanly"; }
[[ -s /var/lib/mirrord/admin.token ]] || fail "no admin token created in /var/lib/mirrord"
dpkg --purge mirrord || fail "dpkg --purge"
echo "installed, ran as the mirrord user, purged: package checks passed"
