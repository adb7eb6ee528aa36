#!/usr/bin/env bash
# Build the Debian package (`cargo deb`), install it on this machine with dpkg, check what it put where,
# and mount the demo account through mount(8) -> mount.fuse3 -> /usr/bin/jottafuse with only the system
# PATH, as an fstab line would. Needs root, fuse3 and cargo-deb (`cargo install cargo-deb --locked`).
# The package is removed again at the end, unless it was installed before.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo deb --quiet >/dev/null
deb=$(ls -t target/debian/jottafuse_*.deb | head -1)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
was_installed=$(dpkg-query -W -f '${Status}' jottafuse 2>/dev/null | grep -c 'install ok installed' || true)
work=$(mktemp -d)
cleanup() {
  mountpoint -q "$work/mnt" 2>/dev/null && umount "$work/mnt" || true
  [ "$was_installed" = 0 ] && dpkg -r jottafuse >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
dpkg -i "$deb" >/dev/null

for f in /usr/bin/jotta /usr/bin/jottafuse; do test -x "$f" || { echo "package: $f missing" >&2; exit 1; }; done
for f in /usr/share/man/man1/jotta.1 /usr/share/man/man1/jottafuse.1 /usr/share/man/man1/jotta-login.1; do
  test -e "$f" || test -e "$f.gz" || { echo "package: man page $f missing" >&2; exit 1; }
done
for f in /usr/share/bash-completion/completions/jotta /usr/share/bash-completion/completions/jottafuse \
         /usr/share/zsh/vendor-completions/_jotta /usr/share/fish/vendor_completions.d/jotta.fish \
         /usr/lib/systemd/user/jottafuse.service /usr/share/doc/jottafuse/fstab.example; do
  test -s "$f" || { echo "package: $f missing" >&2; exit 1; }
done
# The unit names the installed daemon as systemd will find it.
grep -q '^ExecStart=jottafuse ' /usr/lib/systemd/user/jottafuse.service
echo "package: installed files: ok"

# The demo, mounted the way fstab does it: mount(8) runs mount.fuse3, which runs `jottafuse SOURCE MNT -o ...`.
mkdir -p "$work/mnt"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" XDG_DATA_HOME="$work/data" XDG_CACHE_HOME="$work/cache" \
  mount -t fuse.jottafuse -o ro demo "$work/mnt"
grep -qi demo "$work/mnt/Jotta/Archive/README.txt"
# Its type tells it apart from other FUSE mounts, and its source names the account.
findmnt -n -o FSTYPE,SOURCE "$work/mnt" | grep -Eq '^fuse\.jottafuse +jotta:demo$'
# The daemon serving it is the installed one.
# (Collected first: `grep -q` stops at its first match, and with other jottafuse processes about, the
# loop writing on would die of SIGPIPE and fail the run under pipefail.)
exes=$(for pid in $(pgrep -x jottafuse); do readlink "/proc/$pid/exe" || true; done)
grep -qx /usr/bin/jottafuse <<<"$exes"
umount "$work/mnt"
for _ in $(seq 100); do mountpoint -q "$work/mnt" || break; sleep 0.1; done
! mountpoint -q "$work/mnt"
echo "package: mount -t fuse.jottafuse from the installed package: ok"
