// The memory plan of one training step: its estimated peak of live device memory, from the model's
// per-layer shapes (model/summary.ts) alone, logged before the first step beside the adapter's limits.
// What a step holds at its peak, which comes in backward (autograd frees each op's saved tensors as
// its backward runs, so backward starts with all of them and sheds them layer by layer):
//   activations   the tensors the ops keep for backward, for one micro-batch: the input (the stem conv's
//                 wgrad), each conv's output (its BN's x), the BN outputs the next conv reads, the max
//                 pool's output and argmax, each unit's output (its fused ReLU's y), the pooled features,
//                 logits and the loss's logits gradient. Not kept: the last BN's output of a unit and the
//                 shortcut's avg pool (the fused add/concat + ReLU keeps only its output).
//   working set   the gradients in flight where backward is: dy and dx of the op it is at, and the
//                 unit input's gradient held from the shortcut while the main branch runs.
//   gradients     one per parameter (f32); a second set while micro-batches accumulate (the running
//                 sum in .grad and this pass's, which autograd adds at the end of its backward).
//   optimizer     the momenta (f32, one per parameter).
//   parameters    weights and biases (f32), plus the BN running statistics.
//   inputs        the host-written per-micro-batch pixels, crop parameters and labels.
// Every tensor is counted at its pool size class (engine/pool.ts: up to 25% over its bytes); the sum of
// those roundings is reported as slack. Kernel scratch (BN partial sums, the GEMMs' split-K partials,
// the augmentation's intermediate rows) is not modelled: tests/train/memory_plan.test.ts measures
// the gap against the pool's peak after real steps.
import { numel, sizeClass, type DType } from '../engine/index.ts';
import { summary } from '../model/summary.ts';
import type { ModelConfig } from '../model/architecture.ts';
import { PARAMS } from '../kernels/augment.ts';
import { sampleSize, type ImageDataset } from './data/dataset.ts';

export interface MemoryPlan {
  /** Images per pass and passes per step. */
  micro: number;
  count: number;
  activations: number;
  workingSet: number;
  gradients: number;
  optimizer: number;
  parameters: number;
  inputs: number;
  /** Included in the figures above: what the pool's size classes add to the tensors' own bytes. */
  slack: number;
  /** The estimated peak of live device memory in a step (the sum of the above but slack). */
  peak: number;
}

/** One tensor of the forward pass, per image: its elements, whether backward keeps it, its dtype's bytes per element. */
interface Act { elems: number; kept: boolean; bytes: number; unitInput?: number }

/** The forward pass's tensors in order (per image), with what backward keeps (see the header). */
function activations(config: ModelConfig, imageSize: number, dtype: DType): Act[] {
  const b = dtype === 'f32' ? 4 : 2;
  const rows = summary(config, imageSize).rows;
  const out: Act[] = [{ elems: 3 * imageSize * imageSize, kept: true, bytes: b }];
  let unitInput = 0;
  for (const r of rows) {
    const elems = numel(r.out), name = r.name;
    if (name === 'first_conv.0') out.push({ elems, kept: true, bytes: b });
    else if (name === 'first_conv.1') out.push({ elems, kept: config.stem === 'cifar', bytes: b });
    else if (name === 'maxpool') out.push({ elems, kept: true, bytes: b }, { elems, kept: true, bytes: b }); // output and argmax
    else if (/\.branch_main_1\.0$/.test(name)) { unitInput = out.at(-1)!.elems; out.push({ elems, kept: true, bytes: b, unitInput }); }
    else if (/\.branch_main_(1\.1|2\.[012])$/.test(name)) out.push({ elems, kept: true, bytes: b, unitInput });
    else if (/\.(branch_main_2\.3|shortcut)$/.test(name)) out.push({ elems, kept: false, bytes: b, unitInput });
    else if (/\.out$/.test(name)) out.push({ elems, kept: true, bytes: b, unitInput });
    else if (name === 'globalpool') out.push({ elems, kept: true, bytes: b });
    else if (name === 'classifier') out.push({ elems, kept: true, bytes: b }, { elems, kept: true, bytes: 4 }); // logits, dlogits (f32)
  }
  return out;
}

/** Parameter tensors' element counts (conv weights, BN gamma and beta, the dense weight and bias). */
function parameterTensors(config: ModelConfig, imageSize: number): { params: number[]; bnStats: number[] } {
  const params: number[] = [], bnStats: number[] = [];
  for (const r of summary(config, imageSize).rows) {
    if (r.kind.startsWith('bn')) { params.push(r.params / 2, r.params / 2); bnStats.push(r.params / 2, r.params / 2); }
    else if (r.kind === 'dense') params.push(r.params - r.out[0]!, r.out[0]!);
    else if (r.params) params.push(r.params);
  }
  return { params, bnStats };
}

/**
 * The plan of a step of `batch` images in micro-batches of `micro` (`sampleBytes`: one source image's
 * uint8 pixels, C·H·W). Pure arithmetic.
 */
export function memoryPlan(config: ModelConfig, imageSize: number, dtype: DType, batch: number, micro: number, sampleBytes = 3 * 32 * 32): MemoryPlan {
  let slack = 0;
  const sized = (bytes: number) => { const c = sizeClass(bytes); slack += c - bytes; return c; };
  const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
  const count = batch / micro;

  const acts = activations(config, imageSize, dtype).map((a) => ({ ...a, size: sized(a.elems * a.bytes * micro), held: a.unitInput ? sizeClass(a.unitInput * a.bytes * micro) : 0 }));
  // backward, from the loss down: everything kept up to op j, the gradients of its output and input,
  // and the unit input's gradient held from the shortcut
  let kept = sum(acts.filter((a) => a.kept).map((a) => a.size));
  const activationBytes = kept;
  let peakAct = 0, worstExtra = 0;
  for (let j = acts.length - 1; j >= 1; j--) {
    const a = acts[j]!;
    const extra = a.size + acts[j - 1]!.size + a.held;
    if (kept + extra > peakAct) { peakAct = kept + extra; worstExtra = extra; }
    if (a.kept) kept -= a.size;
  }

  const { params, bnStats } = parameterTensors(config, imageSize);
  const paramBytes = sum(params.map((n) => sized(4 * n)));
  const gradients = sum(params.map((n) => sized(4 * n))) * (count > 1 ? 2 : 1);
  const optimizer = sum(params.map((n) => sized(4 * n)));
  const parameters = paramBytes + sum(bnStats.map((n) => sized(4 * n)));
  const inputs = count * (sized(Math.ceil((micro * sampleBytes) / 4) * 4) + sized(micro * PARAMS * 4) + sized(micro * 4));
  const activationsKept = peakAct - worstExtra;
  return {
    micro, count, activations: activationsKept, workingSet: worstExtra, gradients, optimizer, parameters, inputs, slack,
    peak: peakAct + gradients + optimizer + parameters + inputs,
  };
}

/** The plan of a training session's step. */
export function sessionPlan(s: { model: { config: ModelConfig }; cfg: { imageSize: number }; dtype: DType; N: number; M: number; trainSet: ImageDataset }): MemoryPlan {
  return memoryPlan(s.model.config, s.cfg.imageSize, s.dtype, s.N, s.M, sampleSize(s.trainSet));
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(b < 10 * 2 ** 20 ? 1 : 0)} MiB`;

/** The one line a run logs before its first step. */
export function memoryLine(p: MemoryPlan, dtype: DType, limits: { binding: number; buffer: number }): string {
  return `memory plan: about ${mib(p.peak)} of device memory at the step's peak: activations kept for backward ${mib(p.activations)} ` +
    `(${p.count > 1 ? `a micro-batch of ${p.micro}` : `the batch of ${p.micro}`}, ${dtype}), backward's working set ${mib(p.workingSet)}, ` +
    `gradients ${mib(p.gradients)}${p.count > 1 ? ' (the running sum and one pass\'s)' : ''}, momenta ${mib(p.optimizer)}, parameters ${mib(p.parameters)}, ` +
    `inputs ${mib(p.inputs)}; pool size-class slack included: ${mib(p.slack)}. This adapter: ${mib(limits.binding)} per bound tensor, ${mib(limits.buffer)} per buffer`;
}
