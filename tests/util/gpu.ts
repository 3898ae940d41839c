// Test access to the GPU: one device per process, upload/download in one call, dtypes under test, and
// the subgroup paths of kernels that have subgroup variants.
import * as assert from 'uvu/assert';
import { initDevice, describeDevice, deviceInfo, capture, scope, Tensor, roundToHalf, type DType, type Shape, type TensorOptions } from '../../engine/index.ts';
import { setSubgroups, subgroupsEnabled } from '../../kernels/kernel.ts';
import { setReductionShape, type ReductionShape } from '../../kernels/reduction_shape.ts';

await initDevice();
if (!process.env.QUIET_ADAPTER) { console.log(`adapter: ${describeDevice()}`); process.env.QUIET_ADAPTER = '1'; }

/** Every dtype each kernel is tested with. */
export const DTYPES_UNDER_TEST: DType[] = ['f32', 'f16'];

export const upload = (data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32', opts: TensorOptions = {}) =>
  Tensor.from(data, shape, dtype, opts);

/** Read back and dispose. */
export async function download(t: Tensor): Promise<Float32Array> {
  try { return await t.read(); } finally { t.dispose(); }
}

/**
 * Outputs read while they stay allocated until dispose(). Comparing variants of one kernel needs it: a
 * variant that leaves some elements unwritten would otherwise be read from a recycled buffer that still
 * holds the previous variant's (right) values, and pass.
 */
export class KeptOutputs {
  private kept: Tensor[] = [];
  async read(t: Tensor): Promise<Float32Array> { this.kept.push(t); return t.read(); }
  dispose(): void { for (const t of this.kept.splice(0)) t.dispose(); }
}

/** Values as the GPU will hold them in `dtype` (so bounds measure the kernel, not input rounding). */
export function quantize(x: ArrayLike<number>, dtype: DType): Float64Array {
  return Float64Array.from(dtype === 'f32' ? Float32Array.from(x) : roundToHalf(x));
}

/** Subgroup settings a kernel with a subgroup variant is tested under: both where the device has subgroups. */
export const SUBGROUP_PATHS: boolean[] = deviceInfo().subgroups ? [true, false] : [false];
/** Test-title suffix for a subgroup setting (empty for the plain path). */
export const sgName = (sg: boolean) => (sg ? ' (subgroups)' : '');

/** fn with subgroup variants switched on or off (setSubgroups), the default restored after. */
export async function withSubgroups<T>(on: boolean, fn: () => T | Promise<T>): Promise<T> {
  setSubgroups(on);
  try { return await fn(); } finally { setSubgroups(null); }
}

/** fn with the reductions forced to a shape (setReductionShape), the adapter's restored after. */
export async function withReduction<T>(name: ReductionShape['name'], fn: () => T | Promise<T>): Promise<T> {
  setReductionShape(name);
  try { return await fn(); } finally { setReductionShape(null); }
}

/**
 * The paths a reduction kernel is tested on: both reduction shapes (reduction_shape.ts), each in its
 * subgroup and plain form where the device has subgroups.
 */
export const REDUCTION_PATHS = SUBGROUP_PATHS.flatMap((sg) => (['cpu', 'gpu'] as const).map((red) => ({ sg, red })));
export type ReductionPath = (typeof REDUCTION_PATHS)[number];
/** Test-title suffix for a reduction path. */
export const reductionPathName = (p: ReductionPath) => `${sgName(p.sg)} (${p.red} reduction)`;
/** fn on a reduction path, the defaults restored after. */
export const onReductionPath = <T>(p: ReductionPath, fn: () => T | Promise<T>): Promise<T> => withSubgroups(p.sg, () => withReduction(p.red, fn));

/** Title of a test of which variant `what` dispatches; without subgroups it says that nothing is covered. */
export const subgroupVariantTitle = (what: string) => deviceInfo().subgroups
  ? `${what}: subgroup variants dispatched where enabled, plain ones where switched off`
  : `${what}: this adapter has no subgroups, so subgroupsEnabled() is false and the subgroup variants are NOT covered here`;

/**
 * Where the device has subgroups: `run` (dispatches only) dispatches `count` kernels whose pipeline key
 * starts with `prefix`, every one a subgroup variant ('/sg' in its key), and with setSubgroups(false)
 * the same number, none of them one. Elsewhere: asserts subgroupsEnabled() is false.
 */
export async function expectSubgroupVariants(prefix: string, count: number, run: () => void): Promise<void> {
  if (!deviceInfo().subgroups) { assert.is(subgroupsEnabled(), false, 'no subgroups on this adapter'); return; }
  for (const on of [true, false]) {
    const keys = await withSubgroups(on, async () => {
      const { step } = capture(() => scope(() => { run(); }));
      try { return (await step.profile()).map((p) => p.kernel).filter((k) => k.startsWith(prefix)); } finally { step.dispose(); }
    });
    assert.is(keys.length, count, `${prefix} dispatches: ${keys.join(', ')}`);
    for (const k of keys) assert.is(/\/sg(\/|$)/.test(k), on, `${k} with subgroups ${on ? 'on' : 'off'}`);
  }
}
