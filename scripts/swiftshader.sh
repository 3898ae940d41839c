#!/usr/bin/env bash
# Run a command on Dawn's Vulkan core adapter on SwiftShader (Google's CPU Vulkan: core WebGPU,
# subgroups, timestamp-query, no shader-f16), the copy that ships with the chromium package:
#   scripts/swiftshader.sh node --import tsx scripts/run_tests.ts [PATTERN]
# Points the Vulkan loader at SwiftShader alone (VK_ICD_FILENAMES). Chromium's folder also holds its
# own libvulkan.so.1 loader; it is used only when the system has none (so a system loader is never
# shadowed), through a folder that holds nothing else.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: scripts/swiftshader.sh COMMAND [ARGS...]" >&2; exit 2; }

dir=
for d in /usr/lib/chromium /usr/lib/chromium-browser /usr/lib64/chromium-browser; do
  if [ -f "$d/vk_swiftshader_icd.json" ]; then dir=$d; break; fi
done
if [ -z "$dir" ]; then
  echo "scripts/swiftshader.sh: no vk_swiftshader_icd.json in /usr/lib/chromium (or chromium-browser):" >&2
  echo "  install the chromium package (Debian: sudo apt-get install -y chromium)" >&2
  exit 1
fi

export VK_ICD_FILENAMES=$dir/vk_swiftshader_icd.json
export WG_BACKEND=vulkan
if ! PATH=$PATH:/sbin:/usr/sbin ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  # that loader alone: Chromium's folder also holds its own libEGL.so (ANGLE), which would shadow
  # Mesa's for Dawn's OpenGL backend in the same process
  loader=$(cd "$(dirname "$0")/.." && pwd)/.cache/swiftshader-loader
  mkdir -p "$loader"
  ln -sf "$dir/libvulkan.so.1" "$loader/libvulkan.so.1"
  export LD_LIBRARY_PATH=$loader${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
exec "$@"
