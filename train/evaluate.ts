// Loss, top-1 and top-5 accuracy of a model on a dataset (the seed's model.eval with nn.Loss,
// Top1CategoricalAccuracy and Top5CategoricalAccuracy). Every image counts: the last partial batch
// is evaluated too (the seed's drop_remainder=True skips the last 16 of CIFAR-10's 10000), and the
// loss is the mean over images. Batches go through the test transform on the GPU; the numbers are
// accumulated there and read back once.
import { Tensor, noGrad, scope, sync, type DType } from '../engine/index.ts';
import { augmentBatch, uploadBytes, PARAMS } from '../kernels/augment.ts';
import { softmaxCrossEntropy, topkCorrect } from '../kernels/softmax_xent.ts';
import { BatchSampler, copyBatch, sampleSize, type ImageDataset } from './data/dataset.ts';
import { testParams } from './data/transforms.ts';
import { STATS, stepMetricsAccumulate } from '../kernels/step_metrics.ts';
import { decodeStats } from './step_metrics.ts';
import type { ShuffleNetV1 } from '../model/shufflenet.ts';
import type { FoldedShuffleNetV1 } from '../model/fold_bn.ts';

/** A model to run on test images: ShuffleNetV1 (run in eval mode) or its batch-norm-folded form. */
export type InferenceModel = ShuffleNetV1 | FoldedShuffleNetV1;

export interface EvalOptions {
  batchSize: number;
  imageSize: number;
  dtype: DType;
  smoothing: number;
  /** Evaluate only the first `limit` images. */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface EvalResult { loss: number; top1: number; top5: number; images: number; seconds: number }

/** Run fn with the model in eval mode (batch norm on running statistics), restoring its mode after. */
function inEvalMode<T>(model: InferenceModel, fn: () => T): T {
  const modal = 'training' in model ? model : null; // only the unfolded model has a train mode
  const wasTraining = modal?.training ?? false;
  modal?.eval();
  try { return fn(); } finally { modal?.train(wasTraining); }
}

/** The model's logits for one uint8 batch under the test transform (eval mode, no tape). */
export function predictLogits(model: InferenceModel, images: Uint8Array, dims: { N: number; C: number; H: number; W: number }, ds: { mean: number[]; std: number[] }, imageSize: number, dtype: DType): Tensor {
  return inEvalMode(model, () => noGrad(() => scope(() => {
    const src = uploadBytes(images);
    const params = Tensor.from(testParams(dims.N, { height: dims.H, width: dims.W }, imageSize), [dims.N, PARAMS]);
    const x = augmentBatch(src, dims, params, { size: imageSize, dtype }, ds.mean, ds.std);
    return model.forward(x);
  })));
}

export async function evaluate(model: InferenceModel, ds: ImageDataset, o: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const count = Math.min(ds.count, o.limit ?? ds.count);
  const sampler = new BatchSampler({ count, batchSize: o.batchSize, seed: 0, shuffle: false, dropLast: false });
  const size = sampleSize(ds);
  const images = new Uint8Array(o.batchSize * size), labels = new Uint8Array(o.batchSize);
  const stats = Tensor.zeros([STATS]);
  try {
    let done = 0, batches = 0;
    for (const idx of sampler.epochBatches()) {
      const N = copyBatch(ds, idx, images, labels);
      scope(() => {
        const dims = { N, C: ds.channels, H: ds.height, W: ds.width };
        const logits = predictLogits(model, images.subarray(0, N * size), dims, ds, o.imageSize, o.dtype);
        const y = Tensor.from(labels.subarray(0, N), [N]);
        noGrad(() => stepMetricsAccumulate(stats, softmaxCrossEntropy(logits, y, { smoothing: o.smoothing }), topkCorrect(logits, y)));
      });
      done += N;
      // bound the queued work and give progress; a read-back would cost more than this wait
      if (++batches % 8 === 0) { await sync(); o.onProgress?.(done, count); }
    }
    const m = decodeStats(await stats.read());
    o.onProgress?.(done, count);
    return { loss: m.loss, top1: m.top1, top5: m.top5, images: m.images, seconds: (performance.now() - t0) / 1000 };
  } finally {
    stats.dispose();
  }
}
