// The optimizer update: SGD with momentum and weight decay, MindSpore Momentum semantics
// (nn.Momentum after TrainOneStepWithLossScaleCell's unscale), for every parameter in few dispatches.
//   g = grad · invScale + wd · w        (wd = 0 for no-decay parameters: batch-norm gamma and beta)
//   v = momentum · v + g
//   w = w - lr · v
// Per-step values are never uniforms: lr, momentum, wd and invScale are read on the GPU from `hyper`,
// an f32 [4] tensor [lr, momentum, weightDecay, invLossScale] the trainer rewrites each step, so a
// captured step replays with the current values. With a GPU loss scale (DynamicLossScale) invScale is
// 1 / scale[0] instead of hyper[3], so dynamic loss scaling needs no readback.
// Layout: parameters, gradients and momenta are f32 tensors of any shape; each invocation updates one
// vec4 of one parameter of a group. Tensors have no offset views, so there is no flat arena: one
// dispatch updates a group of up to P parameters bound side by side (P = 4 with 16 storage buffers
// per stage: 3 per parameter + hyper, flag, scale), parameters sorted by size so a group's sizes are
// alike. ShuffleNetV1 (~160 parameters) takes ~40 update dispatches, plus ~12 for the overflow check.
// Vec4 lanes past a parameter's end only touch the binding's padding (never read as data); the
// overflow check masks them, as padding may hold Inf or NaN.
// Overflow (dynamic loss scaling): resetFlag, then checkGrads sets flag[0] = 1 if any unscaled
// gradient element is Inf or NaN; the update with `skip` then leaves every w and v unchanged, and
// DynamicLossScale.update halves the scale (or doubles it after `interval` clean steps) on the GPU.
// Gradients: the update reads param.grad; the trainer disposes them afterwards (SgdMomentum.zeroGrad),
// since autograd accumulates into an existing .grad. No autograd here.
import { Tensor, OpError, launch, grid1d, uniforms, device, fmt, type Uniforms, type UniformType } from '../engine/index.ts';
import { WG, builtins, flatIndex } from './wgsl.ts';
import { nonFinite } from './cast.ts';

const MAX_GROUP = 4; // update: parameters per dispatch, at most (bounds the number of pipelines)
const MAX_CHECK = 12; // check: gradients per dispatch, at most
const range = (n: number) => [...Array(n).keys()];

/** Storage bindings one dispatch may use on this device. */
const storageLimit = () => device().limits.maxStorageBuffersPerShaderStage;

// one uniform layout per group size: element counts n0.., decay flags d0..
const layouts = new Map<string, Uniforms<Record<string, UniformType>>>();
function layout(P: number, decay: boolean): Uniforms<Record<string, UniformType>> {
  const key = `${P}/${decay}`;
  let U = layouts.get(key);
  if (!U) {
    const fields: Record<string, UniformType> = {};
    for (const j of range(P)) fields[`n${j}`] = 'u32';
    if (decay) for (const j of range(P)) fields[`d${j}`] = 'u32';
    layouts.set(key, (U = uniforms(fields)));
  }
  return U;
}

// invScale from hyper[3], or 1 / S for a GPU loss scale S
const invScale = (gpuScale: boolean) => (gpuScale ? '1.0 / scale[0]' : 'hyper[3]');

type UpdateSpec = { P: number; skip: boolean; gpuScale: boolean };
const updateKernel = {
  key: (s: UpdateSpec) => `sgd.update/${s.P}${s.skip ? '/skip' : ''}${s.gpuScale ? '/gpuScale' : ''}`,
  wgsl: (s: UpdateSpec) => {
    let b = 1;
    const bind = (decl: string) => `@group(0) @binding(${b++}) ${decl}`;
    return /* wgsl */ `
${layout(s.P, true).wgsl}
@group(0) @binding(0) var<uniform> u: U;
${bind('var<storage, read> hyper: array<f32>;')}
${s.gpuScale ? bind('var<storage, read> scale: array<f32>;') : ''}
${s.skip ? bind('var<storage, read> flag: array<f32>;') : ''}
${range(s.P).map((j) => bind(`var<storage, read> g${j}: array<vec4f>;`)).join('\n')}
${range(s.P).map((j) => `${bind(`var<storage, read_write> w${j}: array<vec4f>;`)}\n${bind(`var<storage, read_write> v${j}: array<vec4f>;`)}`).join('\n')}
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
}`;
  },
};

type CheckSpec = { G: number; gpuScale: boolean };
const checkKernel = {
  key: (s: CheckSpec) => `sgd.check/${s.G}${s.gpuScale ? '/gpuScale' : ''}`,
  wgsl: (s: CheckSpec) => /* wgsl */ `
${layout(s.G, false).wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> ${s.gpuScale ? 'scale' : 'hyper'}: array<f32>;
${range(s.G).map((j) => `@group(0) @binding(${2 + j}) var<storage, read> g${j}: array<vec4f>;`).join('\n')}
@group(0) @binding(${2 + s.G}) var<storage, read_write> flag: array<atomic<u32>>;
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
};

const resetKernel = {
  key: () => 'sgd.resetFlag',
  wgsl: () => /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> flag: array<f32>;
// a single invocation
@compute @workgroup_size(1)
fn main() { flag[0] = 0.0; }`,
};

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
export function sgdUpdateRaw(items: readonly SgdItem[], hyper: Tensor, opts: UpdateOptions = {}): void {
  const skip = !!opts.flag, gpuScale = !!opts.lossScale;
  const extra = 1 + (skip ? 1 : 0) + (gpuScale ? 1 : 0);
  const P = Math.max(1, Math.min(MAX_GROUP, Math.floor((storageLimit() - extra) / 3)));
  for (const group of chunks(items, P)) {
    const vals: Record<string, number> = {};
    group.forEach((it, j) => { vals[`n${j}`] = it.w.size; vals[`d${j}`] = it.decay ? 1 : 0; });
    const quads = Math.ceil(Math.max(...group.map((it) => it.w.size)) / 4);
    const read = [hyper, ...(gpuScale ? [opts.lossScale!] : []), ...(skip ? [opts.flag!] : []), ...group.map((it) => it.g)];
    const write = group.flatMap((it) => [it.w, it.v]);
    launch(updateKernel, { P: group.length, skip, gpuScale }, { uniforms: layout(group.length, true).pack(vals), read, write, grid: grid1d(quads, WG) });
  }
}

/**
 * Set flag[0] = 1 if any element of any gradient, or of it times invScale (hyper[3], or 1 / S with a
 * GPU loss scale S), is Inf or NaN. Never clears the flag: resetFlagRaw first. No autograd.
 */
export function checkGradsRaw(grads: readonly Tensor[], hyper: Tensor, flag: Tensor, lossScale: Tensor | null = null): void {
  const G = Math.max(1, Math.min(MAX_CHECK, storageLimit() - 2));
  for (const group of chunks(grads, G)) {
    const vals: Record<string, number> = {};
    group.forEach((g, j) => { vals[`n${j}`] = g.size; });
    const quads = Math.ceil(Math.max(...group.map((g) => g.size)) / 4);
    const spec = { G: group.length, gpuScale: !!lossScale };
    launch(checkKernel, spec, { uniforms: layout(group.length, false).pack(vals), read: [lossScale ?? hyper, ...group], write: [flag], grid: grid1d(quads, WG) });
  }
}

/** flag[0] = 0, ordered with the dispatches around it (so it replays with a captured step). */
export function resetFlagRaw(flag: Tensor): void {
  launch(resetKernel, null, { write: [flag], grid: [1, 1, 1] });
}

/** A parameter and whether weight decay applies to it (false for batch-norm gamma and beta). */
export interface SgdParam { param: Tensor; decay: boolean }

/** Options of one optimizer step. */
export interface StepOptions {
  /** Check every gradient for Inf/NaN first, set `overflow`, and leave w and v unchanged if found. */
  skipOnOverflow?: boolean;
  /** A GPU loss scale S (e.g. DynamicLossScale.scale): gradients are divided by S instead of multiplied by hyper[3]. */
  lossScale?: Tensor | null;
}

/**
 * SGD with momentum over a fixed parameter list; owns the momenta (zeros at first, f32, one per
 * parameter) and the overflow flag. Parameters without a gradient are skipped (as PyTorch does).
 */
export class SgdMomentum {
  /** f32 [1]: 1 if the last step with skipOnOverflow found an Inf or NaN gradient (and skipped), else 0. */
  readonly overflow: Tensor;
  private readonly v: Tensor[];
  private readonly order: number[];

  constructor(private readonly params: readonly SgdParam[]) {
    params.forEach(({ param }, i) => {
      if (param.dtype !== 'f32') throw new OpError('sgd', `parameter ${i} must be f32, got ${param.dtype} ${fmt(param.shape)}`);
    });
    this.v = params.map(({ param }) => Tensor.zeros(param.shape, 'f32').own());
    this.overflow = Tensor.zeros([1], 'f32').own();
    // largest first, so each dispatch's group has parameters of similar size
    this.order = range(params.length).sort((a, b) => params[b].param.size - params[a].param.size);
  }

  /** One update of every parameter that has a gradient; hyper is f32 [lr, momentum, weightDecay, invLossScale]. */
  step(hyper: Tensor, opts: StepOptions = {}): void {
    if (hyper.dtype !== 'f32' || hyper.size !== 4) throw new OpError('sgd', `hyper must be f32 [4] (lr, momentum, weightDecay, invLossScale), got ${hyper.dtype} ${fmt(hyper.shape)}`);
    const items: SgdItem[] = [];
    for (const i of this.order) {
      const { param, decay } = this.params[i];
      const g = param.grad;
      if (!g) continue;
      if (g.dtype !== 'f32' || g.size !== param.size) throw new OpError('sgd', `gradient of parameter ${i} must be f32 ${fmt(param.shape)}, got ${g.dtype} ${fmt(g.shape)}`);
      items.push({ w: param, g, v: this.v[i], decay });
    }
    if (!items.length) return;
    const lossScale = opts.lossScale ?? null;
    if (opts.skipOnOverflow) {
      resetFlagRaw(this.overflow);
      checkGradsRaw(items.map((it) => it.g), hyper, this.overflow, lossScale);
    }
    sgdUpdateRaw(items, hyper, { flag: opts.skipOnOverflow ? this.overflow : null, lossScale });
  }

  /** Momentum buffers, in parameter order (for checkpoints: read them, or write saved values into them). */
  momenta(): Tensor[] { return [...this.v]; }

  /** Dispose every parameter's gradient, so the next backward starts from none. */
  zeroGrad(): void {
    for (const { param } of this.params) { param.grad?.dispose(); param.grad = null; }
  }

  dispose(): void {
    for (const v of this.v) v.dispose();
    this.overflow.dispose();
  }
}

const LsU = uniforms({ interval: 'u32', factor: 'f32', minScale: 'f32', maxScale: 'f32' });
const lossScaleKernel = {
  key: () => 'sgd.lossScale',
  wgsl: () => /* wgsl */ `
${LsU.wgsl}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> flag: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> good: array<f32>;
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
};

/** Constants of dynamic loss scaling (MindSpore DynamicLossScaleUpdateCell / PyTorch GradScaler). */
export interface LossScaleConfig { init?: number; interval?: number; factor?: number; minScale?: number; maxScale?: number }

/**
 * After an overflow, scale /= factor and the clean-step counter restarts; after `interval` clean
 * steps in a row, scale *= factor. Clamped to [minScale, maxScale]. scale and good are f32 [1].
 */
export function lossScaleUpdateRaw(scale: Tensor, good: Tensor, flag: Tensor, cfg: Required<Omit<LossScaleConfig, 'init'>>): void {
  launch(lossScaleKernel, null, { uniforms: LsU.pack(cfg), read: [flag], write: [scale, good], grid: [1, 1, 1] });
}

/**
 * Loss scale kept on the GPU: multiply the loss by `scale` (f32 [1]) before backward, pass it as
 * StepOptions.lossScale with skipOnOverflow, then call update(optimizer.overflow). `good` counts clean
 * steps (f32 [1]). Read either tensor only to log or checkpoint it.
 */
export class DynamicLossScale {
  readonly scale: Tensor;
  readonly good: Tensor;
  private readonly cfg: Required<Omit<LossScaleConfig, 'init'>>;

  constructor(cfg: LossScaleConfig = {}) {
    this.cfg = { interval: cfg.interval ?? 2000, factor: cfg.factor ?? 2, minScale: cfg.minScale ?? 1, maxScale: cfg.maxScale ?? 2 ** 24 };
    this.scale = Tensor.from([cfg.init ?? 2 ** 16], [1], 'f32').own();
    this.good = Tensor.zeros([1], 'f32').own();
  }

  update(flag: Tensor): void { lossScaleUpdateRaw(this.scale, this.good, flag, this.cfg); }

  dispose(): void { this.scale.dispose(); this.good.dispose(); }
}
