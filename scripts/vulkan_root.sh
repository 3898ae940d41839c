#!/usr/bin/env bash
# Run a command on Dawn's Vulkan core adapter on Mesa's lavapipe (Mesa >= 24: core WebGPU, shader-f16,
# subgroups, timestamp-query) on a machine without a GPU:
#   scripts/vulkan_root.sh node --import tsx scripts/run_tests.ts [PATTERN]
# On Debian 13 or later the host's own lavapipe serves (packages mesa-vulkan-drivers libvulkan1).
# Older hosts (Debian 12's Mesa 22 lavapipe is refused by Dawn) run the command inside a Debian 13
# root built with debootstrap into .cache/debian13-root (git-ignored; rebuilt when missing or when its
# package list changes), with this work tree bind-mounted at the same path; the mounts are undone on
# every exit path. Needs root (or sudo) for debootstrap, mount and chroot.
set -euo pipefail
cd "$(dirname "$0")/.."
TREE=$(pwd)
[ $# -gt 0 ] || { echo "usage: scripts/vulkan_root.sh COMMAND [ARGS...]" >&2; exit 2; }

export WG_BACKEND=vulkan
major=$(cut -d. -f1 /etc/debian_version 2>/dev/null || echo 0)
if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -ge 13 ]; then
  exec "$@"
fi

PACKAGES=libegl1,libegl-mesa0,libgl1-mesa-dri,libgles2,libegl-dev,mesa-vulkan-drivers,libvulkan1,dataset-fashion-mnist,ca-certificates
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=$TREE/.cache/debian13-root
STAMP="trixie $PACKAGES"
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

mkdir -p "$TREE/.cache"
exec 9>"$TREE/.cache/debian13-root.lock"
flock 9 # one builder at a time; runs may share the root (each stacks and undoes its own bind mounts)

if [ ! -f "$ROOT/.stamp" ] || [ "$(cat "$ROOT/.stamp")" != "$STAMP" ]; then
  command -v debootstrap >/dev/null || {
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap
  }
  # another run's bind mounts (the work tree, /dev) may be inside the old root: removing it then would
  # delete through them, so a rebuild waits until no mount is left under it
  if awk -v r="$ROOT" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    echo "scripts/vulkan_root.sh: the root needs rebuilding, but another run still has mounts in $ROOT;" >&2
    echo "  let it finish (or unmount: grep $ROOT /proc/mounts) and run again" >&2
    exit 1
  fi
  echo "building the Debian 13 root in $ROOT (about 2 minutes)" >&2
  $SUDO rm -rf --one-file-system "$ROOT" "$ROOT.new"
  $SUDO debootstrap --variant=minbase --include="$PACKAGES" trixie "$ROOT.new" "$MIRROR" >"$TREE/.cache/debootstrap.log" 2>&1 \
    || { echo "debootstrap failed; its log: .cache/debootstrap.log" >&2; tail -5 "$TREE/.cache/debootstrap.log" >&2; exit 1; }
  echo "$STAMP" | $SUDO tee "$ROOT.new/.stamp" >/dev/null
  $SUDO mv "$ROOT.new" "$ROOT" # only a finished root ever carries the stamp
fi
# the host's node (the root has none); refreshed when it differs, so it follows the host's
if ! cmp -s "$(command -v node)" "$ROOT/usr/local/bin/node"; then
  $SUDO install -m 755 "$(command -v node)" "$ROOT/usr/local/bin/node.new"
  $SUDO mv -f "$ROOT/usr/local/bin/node.new" "$ROOT/usr/local/bin/node" # a new file: runs in progress keep theirs
fi
flock -u 9

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do $SUDO umount "${mounted[i]}" 2>/dev/null || $SUDO umount -l "${mounted[i]}"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bind() { $SUDO mkdir -p "$ROOT$2"; $SUDO mount "${@:3}" "$1" "$ROOT$2"; mounted+=("$ROOT$2"); }
bind /proc /proc -t proc
bind /dev /dev --bind
bind /dev/pts /dev/pts --bind # pseudo-terminals (tests/train/terminal_ctrl_c.test.ts)
bind /sys /sys --bind
bind "$TREE" "$TREE" --bind

# tests/web drives Chromium from in here too: installed into the root in place, once (a longer package
# list would rebuild the root, which other runs may have mounted). Not fatal: without it the browser
# test fails by itself, saying what to install.
if [ ! -x "$ROOT/usr/bin/chromium" ]; then
  flock 9
  if [ ! -x "$ROOT/usr/bin/chromium" ]; then
    echo "installing chromium into $ROOT for tests/web (once, about a minute)" >&2
    $SUDO chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium' >"$TREE/.cache/chromium-root.log" 2>&1 \
      || { echo "installing chromium into the root failed (log: .cache/chromium-root.log); tests/web will fail" >&2; tail -3 "$TREE/.cache/chromium-root.log" >&2; }
  fi
  flock -u 9
fi

# plain environment inside: the host's PATH entries and library paths may not exist there
quoted=$(printf '%q ' "$@")
# the engine's own switches (WG_F16, WG_SUBGROUPS, WG_LEAKS, ...) pass through
mapfile -t engine_env < <(env | grep '^WG_' || true)
$SUDO chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin "${engine_env[@]}" WG_BACKEND=vulkan \
  TERM="${TERM:-dumb}" sh -c "cd $(printf '%q' "$TREE") && $quoted"
