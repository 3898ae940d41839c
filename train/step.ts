// ONE training step, on the GPU from uint8 pixels to updated weights:
//   augment (crop/flip/resize/normalise) -> forward -> label-smoothed cross-entropy -> backward of
//   loss·S (S = loss scale) -> SGD momentum update (unscales by 1/S) -> metrics += loss, top-1/5.
// Everything that changes per step lives in tensors the trainer rewrites before each step (pixels,
// per-image crop parameters, labels, [lr, momentum, wd, 1/S], S), so the step's dispatches can be
// captured once and replayed (engine/replay.ts) with no op code, allocation or bind-group work.
// The loss scale multiplies the loss on the GPU (loss·S through the `mul` op) instead of seeding
// backward with a host number, so a dynamic scale kept on the GPU reaches replayed steps too.
import { backward, scope, type DType, type Tensor } from '../engine/index.ts';
import { augmentBatch, type ImageDims } from '../kernels/augment.ts';
import { mul } from '../kernels/elementwise.ts';
import { softmaxCrossEntropy, topkCorrect } from '../kernels/softmax_xent.ts';
import { stepMetricsAccumulate, stepMetricsOverflow } from '../kernels/step_metrics.ts';
import type { ShuffleNetV1 } from '../model/shufflenet.ts';
import type { Sgd } from './sgd.ts';

/** Per-step inputs (written by the host) and the metrics accumulator. */
export interface StepTensors {
  /** The batch's pixels, packed 4 bytes per word (kernels/augment.ts byteTensor). */
  src: Tensor;
  /** [N, PARAMS] per-image transform. */
  params: Tensor;
  /** [N] class indices as f32. */
  labels: Tensor;
  /** [1] the loss scale S. */
  scale: Tensor;
  /** [STATS] running metrics (kernels/step_metrics.ts). */
  stats: Tensor;
}

export interface StepShape {
  dims: ImageDims;
  imageSize: number;
  dtype: DType;
  mean: readonly number[];
  std: readonly number[];
  smoothing: number;
}

export function trainStep(model: ShuffleNetV1, opt: Sgd, t: StepTensors, s: StepShape): void {
  scope(() => {
    const x = augmentBatch(t.src, s.dims, t.params, { size: s.imageSize, dtype: s.dtype }, s.mean, s.std);
    const logits = model.forward(x);
    const loss = softmaxCrossEntropy(logits, t.labels, { smoothing: s.smoothing });
    stepMetricsAccumulate(t.stats, loss, topkCorrect(logits, t.labels));
    backward(mul(loss, t.scale));
    opt.step();
    if (opt.overflow) stepMetricsOverflow(t.stats, opt.overflow);
    opt.zeroGrad();
  });
}
