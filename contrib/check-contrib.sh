#!/usr/bin/env bash
# Exercise contrib/: the fstab line through mount(8) -> mount.fuse3 -> jottafuse, and the systemd
# unit's ExecStart/ExecStop commands, against an emulator on loopback. Needs root, fuse3, a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
work=$(mktemp -d)
bin="$work/bin"; mkdir -p "$bin"
cp target/release/jotta target/release/jottafuse "$bin/"
export PATH="$bin:$PATH" XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" HOME="$work/home"
mkdir -p "$HOME"
cleanup() {
  [ -n "${installed:-}" ] && rm -f "$installed"
  for m in "$work/fstab-mnt" "$HOME/jotta"; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u -z "$m" || true; done
  [ -n "${emu_pid:-}" ] && kill "$emu_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

jotta emulator --data "$work/service" > "$work/emu.out" &
emu_pid=$!
for _ in $(seq 100); do grep -q '^login_token=' "$work/emu.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(sed -n 's/^endpoint=//p' "$work/emu.out")
token=$(sed -n 's/^login_token=//p' "$work/emu.out")
jotta login "$token" --endpoint "$endpoint" >/dev/null
echo "contrib check" > "$work/hello.txt"
jotta put "$work/hello.txt" /Jotta/Archive/hello.txt >/dev/null

# fstab: take the example line's source, type and options, point it at a temp mount point. mount(8) runs
# mount.fuse3 with the system PATH, so the daemon must be installed there (as README says).
installed=""
if [ ! -e /usr/local/bin/jottafuse ]; then
  install -m 0755 "$bin/jottafuse" /usr/local/bin/jottafuse
  installed=/usr/local/bin/jottafuse
fi
read -r src _ type opts _ < <(grep -v '^#' contrib/fstab.example | grep fuse.jottafuse)
opts=$(echo "$opts" | sed -e "s/uid=1000/uid=$(id -u)/" -e "s/gid=1000/gid=$(id -g)/")
mkdir -p "$work/fstab-mnt"
mount -t "$type" -o "$opts" "$src" "$work/fstab-mnt"
test "$(cat "$work/fstab-mnt/hello.txt")" = "contrib check"
umount "$work/fstab-mnt"
for _ in $(seq 50); do mountpoint -q "$work/fstab-mnt" || break; sleep 0.1; done
! mountpoint -q "$work/fstab-mnt"
echo "contrib: fstab line mounts through mount.fuse3: ok"

# systemd unit: run its ExecStart (with %h expanded and the binary from this build), then ExecStop.
mkdir -p "$HOME/jotta"
start=$(sed -n 's/^ExecStart=//p' contrib/systemd/jottafuse.service | sed -e "s|^jottafuse |$bin/jottafuse |" -e "s|%h|$HOME|g")
stop=$(sed -n 's/^ExecStop=//p' contrib/systemd/jottafuse.service | sed -e "s|%h|$HOME|g")
$start &
unit_pid=$!
for _ in $(seq 100); do mountpoint -q "$HOME/jotta" && break; sleep 0.1; done
test "$(cat "$HOME/jotta/Jotta/Archive/hello.txt")" = "contrib check"
$stop
wait "$unit_pid"
echo "contrib: systemd unit ExecStart/ExecStop: ok"
