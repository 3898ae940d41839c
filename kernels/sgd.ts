// The optimizer's kernels: SGD with momentum and weight decay, MindSpore Momentum semantics
// (nn.Momentum after TrainOneStepWithLossScaleCell's unscale), for every parameter in few dispatches,
// plus the overflow check and the dynamic loss-scale update. The optimizer that owns the buffers and
// calls these is train/sgd.ts (Sgd).
//   g = grad · invScale + wd · w        (wd = 0 for no-decay parameters: batch-norm gamma and beta)
//   v = momentum · v + g
//   w = w - lr · v
// Per-step values are never uniforms: lr, momentum, wd and invScale are read on the GPU from `hyper`,
// an f32 [4] tensor [lr, momentum, weightDecay, invLossScale] rewritten each step, so a captured step
// replays with the current values. With a GPU loss scale S (dynamic loss scaling) invScale is
// 1 / scale[0] instead of hyper[3], so dynamic loss scaling needs no readback.
// Layout: parameters, gradients and momenta are f32 tensors of any shape; each invocation updates one
// vec4 of one parameter of a group. Tensors have no offset views, so there is no flat arena: one
// dispatch updates a group of up to P parameters bound side by side (P = 4 with 16 storage buffers
// per stage: 3 per parameter + hyper, flag, scale), parameters sorted by size so a group's sizes are
// alike. ShuffleNetV1 (~160 parameters) takes ~40 update dispatches, plus ~12 for the overflow check.
// Vec4 lanes past a parameter's end only touch the binding's padding (never read as data); the
// overflow check masks them, as padding may hold Inf or NaN.
// Overflow (dynamic loss scaling): sgdResetFlag, then sgdCheck sets flag[0] = 1 if any unscaled
// gradient element is Inf or NaN; the update with `skip` then leaves every w and v unchanged, and
// lossScaleUpdate halves the scale (or doubles it after `interval` clean steps) on the GPU.
// No autograd here.
import { Tensor, device, grid1d, type UniformType } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { WG, builtins, flatIndex, range } from './wgsl.ts';
import { nonFinite } from './cast.ts';

const MAX_GROUP = 4; // update: parameters per dispatch, at most (bounds the number of pipelines)
const MAX_CHECK = 12; // check: gradients per dispatch, at most

/** Storage bindings one dispatch may use on this device. */
const storageLimit = () => device().limits.maxStorageBuffersPerShaderStage;

/** Element counts n0.. of a group's tensors, and with `decay` their decay flags d0.. */
function groupUniforms(P: number, decay: boolean): Record<string, UniformType> {
  const fields: Record<string, UniformType> = {};
  for (const j of range(P)) fields[`n${j}`] = 'u32';
  if (decay) for (const j of range(P)) fields[`d${j}`] = 'u32';
  return fields;
}

// invScale from hyper[3], or 1 / S for a GPU loss scale S
const invScale = (gpuScale: boolean) => (gpuScale ? '1.0 / scale[0]' : 'hyper[3]');

type UpdateSpec = { P: number; skip: boolean; gpuScale: boolean };
const updateKernel = defineKernel({
  name: 'sgd.update',
  variant: (s: UpdateSpec) => `${s.P}${s.skip ? '/skip' : ''}${s.gpuScale ? '/gpuScale' : ''}`,
  uniforms: (s) => groupUniforms(s.P, true),
  buffers: (s) => [
    input('hyper', 'f32'),
    ...(s.gpuScale ? [input('scale', 'f32')] : []),
    ...(s.skip ? [input('flag', 'f32')] : []),
    ...range(s.P).map((j) => input(`g${j}`, 'f32', 4)),
    ...range(s.P).flatMap((j) => [output(`w${j}`, 'f32', 4), output(`v${j}`, 'f32', 4)]),
  ],
  body: (s) => /* wgsl */ `
// one invocation per vec4 of the largest parameter of the group; each updates that vec4 of every parameter long enough
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  ${s.skip ? 'if (flag[0] != 0.0) { return; }' : ''}
  let lr = hyper[0];
  let momentum = hyper[1];
  let inv = ${invScale(s.gpuScale)};
  ${range(s.P).map((j) => `if (4u * i < u.n${j}) {
    let w = w${j}[i];
    let v = momentum * v${j}[i] + g${j}[i] * inv + (hyper[2] * f32(u.d${j})) * w;
    v${j}[i] = v;
    w${j}[i] = w - lr * v;
  }`).join('\n  ')}
}`,
});

type CheckSpec = { G: number; gpuScale: boolean };
const checkKernel = defineKernel({
  name: 'sgd.check',
  variant: (s: CheckSpec) => `${s.G}${s.gpuScale ? '/gpuScale' : ''}`,
  uniforms: (s) => groupUniforms(s.G, false),
  buffers: (s) => [
    input(s.gpuScale ? 'scale' : 'hyper', 'f32'),
    ...range(s.G).map((j) => input(`g${j}`, 'f32', 4)),
    output('flag', 'atomic'),
  ],
  body: (s) => /* wgsl */ `
const lane = vec4u(0u, 1u, 2u, 3u);
// one invocation per vec4 of the largest gradient of the group; flag is f32, set to 1.0 (0x3f800000)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let i = ${flatIndex()};
  let inv = ${invScale(s.gpuScale)};
  var bad = false;
  ${range(s.G).map((j) => `if (4u * i < u.n${j}) { let x = g${j}[i]; bad = bad || any((vec4u(4u * i) + lane < vec4u(u.n${j})) & (${nonFinite('x')} | ${nonFinite('x * inv')})); }`).join('\n  ')}
  if (bad) { atomicMax(&flag[0], 0x3f800000u); }
}`,
});

const resetKernel = defineKernel({
  name: 'sgd.resetFlag',
  variant: () => '',
  buffers: () => [output('flag', 'f32')],
  body: () => /* wgsl */ `
// a single invocation
@compute @workgroup_size(1)
fn main() { flag[0] = 0.0; }`,
});

const lossScaleKernel = defineKernel({
  name: 'sgd.lossScale',
  variant: () => '',
  uniforms: { interval: 'u32', factor: 'f32', minScale: 'f32', maxScale: 'f32' },
  buffers: () => [input('flag', 'f32'), output('scale', 'f32'), output('good', 'f32')],
  body: () => /* wgsl */ `
// a single invocation: the loss-scale state machine
@compute @workgroup_size(1)
fn main() {
  if (flag[0] != 0.0) {
    scale[0] = max(scale[0] / u.factor, u.minScale);
    good[0] = 0.0;
    return;
  }
  let n = good[0] + 1.0;
  if (n >= f32(u.interval)) {
    scale[0] = min(scale[0] * u.factor, u.maxScale);
    good[0] = 0.0;
  } else {
    good[0] = n;
  }
}`,
});

/** One parameter's update: w and its momentum v are updated in place from g. All f32, same shape. */
export interface SgdItem { w: Tensor; g: Tensor; v: Tensor; decay: boolean }

/** Where invScale comes from and whether an overflow flag skips the update. */
export interface UpdateOptions {
  /** f32 [1] overflow flag: when set (non-zero) the update leaves w and v unchanged. */
  flag?: Tensor | null;
  /** f32 loss scale S (element 0): invScale = 1 / S instead of hyper[3]. */
  lossScale?: Tensor | null;
}

const chunks = <T>(xs: readonly T[], n: number): T[][] => range(Math.ceil(xs.length / n)).map((c) => xs.slice(c * n, c * n + n));

/** The fused momentum update of `items`, in groups of up to P per dispatch, no autograd. */
export function sgdUpdate(items: readonly SgdItem[], hyper: Tensor, opts: UpdateOptions = {}): void {
  const skip = !!opts.flag, gpuScale = !!opts.lossScale;
  const extra = 1 + (skip ? 1 : 0) + (gpuScale ? 1 : 0);
  const P = Math.max(1, Math.min(MAX_GROUP, Math.floor((storageLimit() - extra) / 3)));
  for (const group of chunks(items, P)) {
    const uniforms: Record<string, number> = {};
    const buffers: Record<string, Tensor> = { hyper };
    if (gpuScale) buffers.scale = opts.lossScale!;
    if (skip) buffers.flag = opts.flag!;
    group.forEach((it, j) => {
      uniforms[`n${j}`] = it.w.size;
      uniforms[`d${j}`] = it.decay ? 1 : 0;
      Object.assign(buffers, { [`g${j}`]: it.g, [`w${j}`]: it.w, [`v${j}`]: it.v });
    });
    const quads = Math.ceil(Math.max(...group.map((it) => it.w.size)) / 4);
    updateKernel.run({ P: group.length, skip, gpuScale }, { uniforms, buffers, grid: grid1d(quads, WG) });
  }
}

/**
 * Set flag[0] = 1 if any element of any gradient, or of it times invScale (hyper[3], or 1 / S with a
 * GPU loss scale S), is Inf or NaN. Never clears the flag: sgdResetFlag first. No autograd.
 */
export function sgdCheck(grads: readonly Tensor[], hyper: Tensor, flag: Tensor, lossScale: Tensor | null = null): void {
  const G = Math.max(1, Math.min(MAX_CHECK, storageLimit() - 2));
  for (const group of chunks(grads, G)) {
    const uniforms: Record<string, number> = {};
    const buffers: Record<string, Tensor> = { [lossScale ? 'scale' : 'hyper']: lossScale ?? hyper, flag };
    group.forEach((g, j) => { uniforms[`n${j}`] = g.size; buffers[`g${j}`] = g; });
    const quads = Math.ceil(Math.max(...group.map((g) => g.size)) / 4);
    checkKernel.run({ G: group.length, gpuScale: !!lossScale }, { uniforms, buffers, grid: grid1d(quads, WG) });
  }
}

/** flag[0] = 0, ordered with the dispatches around it (so it replays with a captured step). */
export function sgdResetFlag(flag: Tensor): void {
  resetKernel.run(undefined, { buffers: { flag }, grid: [1, 1, 1] });
}

/** Constants of dynamic loss scaling (MindSpore DynamicLossScaleUpdateCell / PyTorch GradScaler). */
export interface LossScaleConfig { interval: number; factor: number; minScale: number; maxScale: number }

/** The defaults: double after 2000 clean steps, halve on overflow, within [1, 2^24]. */
export const LOSS_SCALE_DEFAULTS: LossScaleConfig = { interval: 2000, factor: 2, minScale: 1, maxScale: 2 ** 24 };

/**
 * After an overflow (flag[0] != 0), scale /= factor and the clean-step counter `good` restarts; after
 * `interval` clean steps in a row, scale *= factor. Clamped to [minScale, maxScale]. All f32 [1].
 */
export function lossScaleUpdate(scale: Tensor, good: Tensor, flag: Tensor, cfg: LossScaleConfig): void {
  lossScaleKernel.run(undefined, { uniforms: { ...cfg }, buffers: { flag, scale, good }, grid: [1, 1, 1] });
}
