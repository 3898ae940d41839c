// How the long reductions spread over the device: batch norm's per-channel statistics and gradient
// sums, and the pointwise weight gradient's sums over pixels (conv2d_pointwise.ts). Batch norm takes
// `width` invocations per workgroup reading consecutive units, each channel split into ceil(groups / C)
// chunks (so at least `groups` workgroups in all where the data allows, never fewer than one per
// channel) of at least 64 units per invocation; the weight gradient, in the cpu shape one invocation
// per (dw tile, chunk of pixels), in the gpu shape a `width`-wide workgroup per (tile, chunk) with about
// `groups` workgroups in all. Unlike a launch shape or a tile, the shape decides the summation order,
// so it is not a tuning choice (tuning must never change results): it is fixed per adapter.
//   cpu: 8-wide workgroups, a target of 64: llvmpipe runs 8 invocations as one SIMD batch, which
//        streams memory well only over consecutive addresses, and 64 workgroups keep its threads busy.
//   gpu: 64-wide workgroups (two 32-wide SIMD groups or one 64-wide), a target of 4096: 8-wide ones
//        would leave most of each SIMD group idle, and one workgroup per channel a few hundred
//        workgroups, far too few for a GPU's thousands of lanes; neighbouring lanes read neighbouring
//        addresses, so a SIMD group's loads coalesce.
// WG_REDUCTION=cpu|gpu (or setReductionShape) overrides the adapter's choice: to compare the two on
// one device, and in tests, which run every shape on every adapter.
import { OpError, deviceInfo } from '../engine/index.ts';

export interface ReductionShape { name: 'cpu' | 'gpu'; width: number; groups: number }

export const REDUCTION_SHAPES: Readonly<Record<ReductionShape['name'], ReductionShape>> = {
  cpu: { name: 'cpu', width: 8, groups: 64 },
  gpu: { name: 'gpu', width: 64, groups: 4096 },
};

let override: ReductionShape | null = null;

const named = (name: string, where: string): ReductionShape => {
  const s = REDUCTION_SHAPES[name as ReductionShape['name']];
  if (!s) throw new OpError(where, `unknown reduction shape '${name}'; use one of: ${Object.keys(REDUCTION_SHAPES).join(', ')}`);
  return s;
};

/** The shape reductions take now: the override, else WG_REDUCTION, else the adapter's (software: cpu). */
export function reductionShape(): ReductionShape {
  if (override) return override;
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.WG_REDUCTION;
  if (env) return named(env, 'WG_REDUCTION');
  return deviceInfo().software ? REDUCTION_SHAPES.cpu : REDUCTION_SHAPES.gpu;
}

/** Force a shape by name (tests, benchmarks); null restores the adapter's. */
export function setReductionShape(name: ReductionShape['name'] | null): void {
  override = name === null ? null : named(name, 'setReductionShape');
}

/** The shape in one line, for benchmark headers. */
export function reductionLine(): string {
  const s = reductionShape();
  return `reductions (batch norm, pointwise weight gradients): ${s.name} shape (${s.width}-wide workgroups, at least ${s.groups} where the data allows; WG_REDUCTION=cpu|gpu overrides)`;
}
