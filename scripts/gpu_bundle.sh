#!/usr/bin/env bash
# Pack what scripts/gpu_check.sh needs on a GPU machine that cannot reach any registry into .gpu/
# (git-ignored, ~45 MiB): this machine's node binary (xz), the runtime node_modules for linux-x64 (no
# TypeScript compiler, no other platforms' Dawn builds), and the Vulkan loader's Debian package.
# Run here after `npm ci`; then carry .gpu to the GPU machine with the work tree.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || { echo "run npm ci first" >&2; exit 2; }
rm -rf .gpu && mkdir -p .gpu/debs
xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
tar -cJf .gpu/node_modules.tar.xz --exclude='node_modules/typescript' --exclude='node_modules/@types' \
  --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
  --exclude='node_modules/webgpu/dist/linux-arm64' node_modules
lists=$(mktemp -d)
trap 'rm -rf "$lists"' EXIT
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$lists")
mkdir -p "$lists/partial"
apt-get "${o[@]}" update -qq
(cd .gpu/debs && apt-get "${o[@]}" download libvulkan1 >/dev/null)
du -sh .gpu
