// Shared by `npm run eval` and `npm run predict`: flags common to both, and a model with its dataset
// settings taken from a checkpoint (a training checkpoint remembers its dataset and data directory;
// flags given explicitly win; a weights-only checkpoint falls back to the flag defaults). A checkpoint
// with Inf/NaN weights is refused unless --allow-nonfinite (inspection only: a non-finite result still
// exits 1). A MindSpore .ckpt records no configuration of ours unless we wrote it: its size, group and
// classes come from the tensor shapes, its stem from --stem (the seed's imagenet if not given).
import { findNonFinite, isMindsporePath, type Checkpoint } from '../model/checkpoint.ts';
import { loadCheckpoint } from './checkpoint_io.ts';
import { STEMS, type Stem } from '../model/architecture.ts';
import { foldBatchNorm } from '../model/fold_bn.ts';
import type { InferenceModel } from './evaluate.ts';
import { CIFAR10_CLASSES } from './data/cifar10.ts';
import { FASHION_MNIST_CLASSES } from './data/fashion_mnist.ts';
import type { DatasetName, Precision, TrainConfig } from './config.ts';
import { FlagError, type FlagTable } from './flags.ts';

export const INFERENCE_FLAGS = {
  checkpoint: { type: 'string', default: null, metavar: 'FILE', help: 'the checkpoint to load: .safetensors, or a MindSpore .ckpt (required)' },
  dataset: { type: 'choice', choices: ['cifar10', 'fashion-mnist'], default: 'cifar10', help: "test data (default: the checkpoint's training dataset, else cifar10)" },
  'data-dir': { type: 'string', default: null, metavar: 'DIR', help: "dataset directory (default: the checkpoint's, else the dataset's default)" },
  'download-url': { type: 'string', default: null, metavar: 'URL', help: 'CIFAR-10 archive URL' },
  'image-size': { type: 'int', min: 32, max: 1024, default: 0, help: "model input size (0: the checkpoint's image_size)" },
  precision: { type: 'choice', choices: ['auto', 'fp16', 'fp32'], default: 'auto', help: 'activations; auto = fp16 on a GPU with shader-f16, fp32 elsewhere' },
  fold: { type: 'bool', default: true, help: 'fold batch norm into the convolutions first (the same logits up to rounding, fewer passes)' },
  'allow-nonfinite': { type: 'bool', default: false, help: 'load a checkpoint holding Inf/NaN values (inspection only; a non-finite result exits 1)' },
  stem: { type: 'choice', choices: STEMS, default: 'imagenet', help: "a .ckpt's stem when the file records none (MindSpore's own do not; the stem changes no tensor shape)" },
} as const satisfies FlagTable;

/** How many of `v` are Inf or NaN. */
export function countNonFinite(v: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) n++;
  return n;
}

/** The message of a result that is not one: printed on stderr, with exit status 1. */
export const nonFiniteResult = (what: string): string =>
  `${what}: not finite, so this is not a result (the weights give Inf/NaN outputs); exit status 1`;

export interface InferenceSetup {
  /** The checkpoint's model, batch norm folded in unless --no-fold. */
  model: InferenceModel;
  checkpoint: Checkpoint;
  dataset: DatasetName;
  dataDir: string | null;
  downloadUrl: string | null;
  imageSize: number;
  classes: string[];
  precision: Precision;
}

export async function loadForInference(
  v: { checkpoint: string | null; dataset: string; 'data-dir': string | null; 'download-url': string | null; 'image-size': number; precision: string; fold: boolean; 'allow-nonfinite': boolean; stem: string },
  explicit: Set<string>,
): Promise<InferenceSetup> {
  if (!v.checkpoint) throw new Error('--checkpoint FILE is required');
  if (explicit.has('stem') && !isMindsporePath(v.checkpoint)) throw new FlagError(`--stem: only for a MindSpore .ckpt; ${v.checkpoint} records its stem`);
  const mindspore = { ...(explicit.has('stem') ? { stem: v.stem as Stem } : {}), ...(v['image-size'] ? { imageSize: v['image-size'] } : {}) };
  const { model, checkpoint } = await loadCheckpoint(v.checkpoint, undefined, { allowNonfinite: v['allow-nonfinite'], mindspore });
  for (const note of checkpoint.notes) console.log(`note: ${note}`);
  if (v['allow-nonfinite']) {
    const bad = findNonFinite(checkpoint.state);
    if (bad) console.error(`warning: ${v.checkpoint} holds ${bad.count} non-finite value(s) in ${bad.tensors} tensor(s), the first in '${bad.name}' at index ${bad.index}; loaded for inspection (--allow-nonfinite)`);
  }
  const trained = (checkpoint.training?.config ?? null) as Partial<TrainConfig> | null;
  const dataset = (explicit.has('dataset') ? v.dataset : trained?.dataset ?? v.dataset) as DatasetName;
  const dataDir = explicit.has('data-dir') ? v['data-dir'] : trained?.dataset === dataset ? trained?.dataDir ?? null : null;
  const classes = dataset === 'cifar10' ? [...CIFAR10_CLASSES] : [...FASHION_MNIST_CLASSES];
  if (classes.length !== model.config.classes) {
    model.dispose();
    throw new Error(`${v.checkpoint}: the model has ${model.config.classes} classes, ${dataset} has ${classes.length}`);
  }
  let net: InferenceModel = model;
  if (v.fold) {
    net = await foldBatchNorm(model);
    model.dispose();
  }
  return {
    model: net, checkpoint, dataset, dataDir, downloadUrl: v['download-url'] ?? trained?.downloadUrl ?? null,
    imageSize: v['image-size'] || model.config.imageSize, classes, precision: v.precision as Precision,
  };
}
