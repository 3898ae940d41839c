#!/usr/bin/env bash
# The suite and the benchmarks on a real GPU through Dawn's Vulkan backend, on a machine that may
# have neither node, nor node_modules, nor the Vulkan loader (scripts/gpu_bundle.sh packs them into
# .gpu/, which travels with the work tree):
#   scripts/gpu_check.sh OUT_DIR
# writes OUT_DIR/adapter.txt, tests.log, kernels_f32.json, kernels_bn_cpu.json, kernels_f16.json,
# train_untuned.json, tuning.json, train.json, train_f16.json and summary.txt; exits non-zero if the
# suite failed or no GPU adapter was found.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
t0=$SECONDS
export PATH=$PATH:/usr/sbin:/sbin # ldconfig
if ! command -v node >/dev/null; then
  command -v xz >/dev/null || { echo "no node and no xz to unpack .gpu/node.xz" >&2; exit 2; }
  mkdir -p /tmp/gpu-node && xz -dc .gpu/node.xz > /tmp/gpu-node/node && chmod +x /tmp/gpu-node/node
  export PATH=/tmp/gpu-node:$PATH
fi
[ -d node_modules ] || tar -xJf .gpu/node_modules.tar.xz
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
export WG_BACKEND=vulkan QUIET_ADAPTER=1
export WG_TUNE_CACHE=$OUT/tuning.json # this run's choices only, kept with its results

node --import tsx --input-type=module -e "
  const { initDevice, describeDevice } = await import('./engine/index.ts');
  const i = await initDevice();
  console.log(describeDevice(i));
  if (i.software) { console.error('not a GPU adapter'); process.exit(3); }
  process.exit(0);" > "$OUT/adapter.txt" || { echo "no Vulkan GPU adapter: $(cat "$OUT/adapter.txt")" | tee "$OUT/summary.txt"; exit 3; }

status=()
step() { # NAME COMMAND... (stdout+stderr to OUT/NAME.log)
  local name=$1 t=$SECONDS rc=0
  shift
  "$@" > "$OUT/$name.log" 2>&1 || rc=$?
  status+=("$name: exit $rc, $((SECONDS - t)) s")
  return $rc
}
step tests node --import tsx scripts/run_tests.ts; tests_rc=$?
step kernels_f32 node --import tsx scripts/bench_kernels.ts --json "$OUT/kernels_f32.json"
# the reductions in the CPU shape on this GPU (the default here is the GPU shape, above): batch norm's
# statistics and sums, the pointwise weight gradient's first pass
step kernels_bn_cpu env WG_REDUCTION=cpu node --import tsx scripts/bench_kernels.ts --filter "batch norm" --json "$OUT/kernels_bn_cpu.json"
step kernels_pointwise_cpu env WG_REDUCTION=cpu node --import tsx scripts/bench_kernels.ts --filter "pointwise" --json "$OUT/kernels_pointwise_cpu.json"
step kernels_f16 node --import tsx scripts/bench_kernels.ts --dtype f16 --json "$OUT/kernels_f16.json"
# untuned steps first, then tune one pass of the seed preset and time the steps with its choices
step train_untuned node --import tsx scripts/bench_train.ts --precision fp32 --no-tuned --json "$OUT/train_untuned.json"
step tune node --import tsx scripts/tune.ts
step train node --import tsx scripts/bench_train.ts --precision fp32 --json "$OUT/train.json"
step train_f16 node --import tsx scripts/bench_train.ts --precision fp16 --json "$OUT/train_f16.json"
{
  cat "$OUT/adapter.txt"
  printf '%s\n' "${status[@]}"
  tail -4 "$OUT/tests.log"
  echo "total $((SECONDS - t0)) s"
} | tee "$OUT/summary.txt"
exit $tests_rc
