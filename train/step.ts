// ONE training step, on the GPU from uint8 pixels to updated weights:
//   augment (crop/flip/resize/normalise) -> forward -> label-smoothed cross-entropy -> backward of
//   loss·S (S = loss scale) -> SGD momentum update (unscales by 1/S) -> metrics += loss, top-1/5.
// Everything that changes per step lives in tensors the trainer rewrites before each step (pixels,
// per-image crop parameters, labels, [lr, momentum, wd, 1/S], S), so the step's dispatches can be
// captured once and replayed (engine/replay.ts) with no op code, allocation or bind-group work.
// The loss scale multiplies the loss on the GPU (loss·S through the `mul` op) instead of seeding
// backward with a host number, so a dynamic scale kept on the GPU reaches replayed steps too.
// Micro-batches (--micro-batch, train/micro_batch.ts): the batch's N images arrive as K = N/M groups
// of M in tensors of their own, and the step runs augment -> forward -> loss -> backward on each in
// turn, so only one group's activations are alive at a time. Backward adds into the parameters'
// .grad, and each group's mean loss is scaled by S/K, so the gradients add up to S times the gradient
// of the whole batch's mean loss (for a model without batch norm: BN normalises each group with its
// own statistics, as gradient accumulation in PyTorch does). Then ONE update, whose overflow check
// (dynamic loss scaling) sees the summed gradients, and one metrics entry for all N images. All K
// passes are in the one captured step. With K = 1 this is the plain step above, to the bit.
import { backward, noGrad, scope, type DType, type Tensor } from '../engine/index.ts';
import { augmentBatch, type ImageDims } from '../kernels/augment.ts';
import { add, mul, scale } from '../kernels/elementwise.ts';
import { concat } from '../kernels/concat.ts';
import { softmaxCrossEntropy, topkCorrect } from '../kernels/softmax_xent.ts';
import { stepMetricsAccumulate, stepMetricsOverflow } from '../kernels/step_metrics.ts';
import type { ShuffleNetV1 } from '../model/shufflenet.ts';
import type { Sgd } from './sgd.ts';

/** One micro-batch's inputs, written by the host before every step. */
export interface MicroBatchInputs {
  /** The micro-batch's pixels, packed 4 bytes per word (kernels/augment.ts byteTensor). */
  src: Tensor;
  /** [M, PARAMS] per-image transform. */
  params: Tensor;
  /** [M] class indices as f32. */
  labels: Tensor;
}

/** Per-step inputs (written by the host) and the metrics accumulator; src, params and labels are the first (or only) micro-batch's. */
export interface StepTensors extends MicroBatchInputs {
  /** [1] the loss scale S. */
  scale: Tensor;
  /** [STATS] running metrics (kernels/step_metrics.ts). */
  stats: Tensor;
  /** The batch's other micro-batches, in order (absent or empty: the batch runs in one pass). */
  more?: MicroBatchInputs[];
}

export interface StepShape {
  /** One micro-batch's source images (N: its images). */
  dims: ImageDims;
  imageSize: number;
  dtype: DType;
  mean: readonly number[];
  std: readonly number[];
  smoothing: number;
}

export function trainStep(model: ShuffleNetV1, opt: Sgd, t: StepTensors, s: StepShape): void {
  const passes = [t, ...(t.more ?? [])];
  scope(() => {
    // each pass's mean loss times S/K: the K gradients add up to S · d(mean loss of the batch)
    const lossScale = passes.length === 1 ? t.scale : scale(t.scale, 1 / passes.length);
    const parts = passes.map((m) => scope(() => forwardBackward(model, m, s, lossScale)));
    const whole = parts.length === 1 ? parts[0]! : noGrad(() => joinPasses(parts));
    stepMetricsAccumulate(t.stats, whole.loss, whole.hits);
    opt.step();
    if (opt.overflow) stepMetricsOverflow(t.stats, opt.overflow);
    opt.zeroGrad();
  });
}

/** augment -> forward -> loss -> backward of loss·lossScale for one micro-batch (gradients add into .grad); its mean loss [1] and top-k hits [M, 2]. */
function forwardBackward(model: ShuffleNetV1, m: MicroBatchInputs, s: StepShape, lossScale: Tensor): { loss: Tensor; hits: Tensor } {
  const x = augmentBatch(m.src, s.dims, m.params, { size: s.imageSize, dtype: s.dtype }, s.mean, s.std);
  const logits = model.forward(x);
  const loss = softmaxCrossEntropy(logits, m.labels, { smoothing: s.smoothing });
  const hits = topkCorrect(logits, m.labels);
  backward(mul(loss, lossScale));
  return { loss, hits };
}

/** The whole batch's mean loss (the passes' mean: they are of equal size) and its hits [N, 2], for one metrics entry. */
function joinPasses(parts: { loss: Tensor; hits: Tensor }[]): { loss: Tensor; hits: Tensor } {
  const pairwise = (xs: Tensor[], join: (a: Tensor, b: Tensor) => Tensor): Tensor =>
    xs.length === 1 ? xs[0]! : pairwise(Array.from({ length: Math.ceil(xs.length / 2) }, (_, i) => (xs[2 * i + 1] ? join(xs[2 * i]!, xs[2 * i + 1]!) : xs[2 * i]!)), join);
  const loss = scale(pairwise(parts.map((p) => p.loss), add), 1 / parts.length);
  // hits [M, 2] are contiguous rows: joined as [1, 2M, 1, 1] channels, then viewed as [N, 2]
  const rows = pairwise(parts.map((p) => p.hits.reshapeView([1, p.hits.size, 1, 1])), concat);
  return { loss, hits: rows.reshapeView([rows.size / 2, 2]) };
}
