// `npm run export:onnx -- --checkpoint FILE [--out FILE.onnx] [--no-fold] [--normalize] [--image-size PX]`
// Writes the checkpoint's ShuffleNetV1 as an ONNX inference graph (model/onnx_export.ts: opset 17,
// input 'input' float32 [N, 3, H, W], output 'logits' [N, classes], class names in the metadata).
// Host arithmetic only: needs no GPU. The file is written atomically (temp file + fsync + rename).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readCheckpoint } from '../train/checkpoint_io.ts';
import { ONNX_OPSET, INPUT_NAME, OUTPUT_NAME, exportOnnx, type Normalization } from '../model/onnx_export.ts';
import { CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD } from '../train/data/cifar10.ts';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD } from '../train/data/fashion_mnist.ts';
import { FlagError, programFlags, runMain } from '../train/flags.ts';
import { fsErrorMessage } from '../train/fs_errors.ts';
import type { DatasetName, TrainConfig } from '../train/config.ts';

const FLAGS = {
  checkpoint: { type: 'string', default: null, metavar: 'FILE', help: 'the .safetensors checkpoint to export (required)' },
  out: { type: 'string', default: null, metavar: 'FILE', help: "the .onnx file to write (default: the checkpoint's path with .onnx)" },
  fold: { type: 'bool', default: true, help: 'fold batch norm into the convolutions; --no-fold keeps BatchNormalization nodes' },
  normalize: { type: 'bool', default: false, help: "put (x - mean)/std in the graph, so the input is RGB pixels in [0, 1]" },
  'image-size': { type: 'int', min: 0, max: 4096, default: 0, metavar: 'PX', help: 'fix H = W = PX (explicit pool pads); 0: H and W dynamic' },
  dataset: { type: 'choice', choices: ['cifar10', 'fashion-mnist'], default: 'cifar10', help: "class names and mean/std (default: the checkpoint's training dataset, else cifar10)" },
  'class-names': { type: 'string', default: null, metavar: 'FILE', help: "class names, one per line (default: the dataset's)" },
} as const;

const USAGE = 'Usage: npm run export:onnx -- --checkpoint FILE [--out FILE.onnx] [flags]\n\n' +
  `Writes the model as ONNX (opset ${ONNX_OPSET}): input '${INPUT_NAME}' float32 [N, 3, H, W], output '${OUTPUT_NAME}' float32 [N, classes].\n` +
  'Without --normalize the input is normalised as in training: (pixel/255 - mean)/std per RGB channel.';

const DATASETS: Record<DatasetName, { classes: readonly string[]; norm: Normalization }> = {
  cifar10: { classes: CIFAR10_CLASSES, norm: { mean: CIFAR10_MEAN, std: CIFAR10_STD } },
  // grayscale images are replicated to RGB for the model (train/data_source.ts), so are their statistics
  'fashion-mnist': { classes: FASHION_MNIST_CLASSES, norm: { mean: [0, 0, 0].map(() => FASHION_MNIST_MEAN[0]!), std: [0, 0, 0].map(() => FASHION_MNIST_STD[0]!) } },
};

function readClassNames(file: string): string[] {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) { throw new Error(fsErrorMessage(e, 'read', file)); }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

/** Write `bytes` to a temp file beside `file`, fsync, rename over it (readers see the old file or the new). */
function writeAtomic(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number | null = null;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fd = fs.openSync(tmp, 'wx');
    fs.writeFileSync(fd, bytes);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new Error(fsErrorMessage(e, 'write', file));
  }
  try { // persist the rename; not every platform can fsync a directory, and the data is already safe
    const dfd = fs.openSync(path.dirname(file), 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* best effort */ }
}

async function main(argv: string[]): Promise<number> {
  const p = programFlags('npm run export:onnx', USAGE, FLAGS, argv, {
    validate: (q) => {
      if (!q.values.checkpoint) throw new FlagError('--checkpoint: missing (the checkpoint to export)');
      const px = q.values['image-size'];
      if (px !== 0 && px < 32) throw new FlagError(`--image-size: expected 0 (dynamic) or at least 32, got ${px}`);
    },
  });
  if (typeof p === 'number') return p;
  const v = p.values;
  const ckptPath = v.checkpoint!;
  const ck = await readCheckpoint(ckptPath);
  const trained = (ck.training?.config ?? null) as Partial<TrainConfig> | null;
  const dataset = (p.explicit.has('dataset') ? v.dataset : trained?.dataset ?? v.dataset) as DatasetName;
  const classNames = v['class-names'] ? readClassNames(v['class-names']) : [...DATASETS[dataset].classes];
  if (classNames.length !== ck.config.classes) {
    const from = v['class-names'] ? `${v['class-names']} lists ${classNames.length} class names` : `${dataset} has ${classNames.length} classes`;
    console.error(`npm run export:onnx: ${ckptPath}: the model has ${ck.config.classes} classes but ${from}; give --class-names FILE (one name per line)`);
    return 2;
  }
  const out = v.out ?? ckptPath.replace(/\.[^./\\]*$/, '') + '.onnx';
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const bytes = exportOnnx(ck.config, ck.state, {
    fold: v.fold, normalize: v.normalize, normalization: DATASETS[dataset].norm, classNames,
    imageSize: v['image-size'] || null, producerVersion: pkg.version,
    metadata: { dataset, source_checkpoint: path.basename(ckptPath) },
  });
  writeAtomic(out, bytes);
  const c = ck.config, px = v['image-size'] || null;
  console.log(`wrote ${out} (${(bytes.length / 2 ** 20).toFixed(2)} MiB): ShuffleNetV1 ${c.size} g=${c.group}, ${c.stem} stem, ${c.classes} classes; ` +
    `opset ${ONNX_OPSET}, batch norm ${v.fold ? 'folded' : 'as BatchNormalization nodes'}`);
  console.log(`input '${INPUT_NAME}' float32 [N, 3, ${px ?? 'H'}, ${px ?? 'W'}]: ` +
    (v.normalize ? 'RGB pixels in [0, 1] (normalised in the graph)' : `(pixel/255 - mean)/std per RGB channel, ${dataset} mean [${DATASETS[dataset].norm.mean.join(', ')}] std [${DATASETS[dataset].norm.std.join(', ')}]`) +
    `; output '${OUTPUT_NAME}' float32 [N, ${c.classes}]`);
  return 0;
}

await runMain(main);
