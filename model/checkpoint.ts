// ShuffleNetV1 checkpoints in the safetensors format (model/safetensors.ts does the format; this file maps a
// model onto it). Tensors: the state dict under PyTorch's names (so the PyTorch twin's
// load_state_dict(strict=True) accepts the file: it fills in the absent num_batches_tracked), plus, in
// training checkpoints, `optimizer.momentum.<param>` for the SGD momentum buffers. Metadata (strings):
//   format        'shufflenet-webgpu-v1'
//   model_size, group, n_class, image_size, stem     (the twin's fixture keys)
//   training      JSON of an arbitrary record (epoch, step, loss scale, RNG state, ...), training checkpoints only
// Bytes only, so a page can use it too (train/checkpoint_io.ts reads and writes the files, atomically:
// temp file + fsync + rename). Loading is strict by default: a missing, unexpected
// or mis-shaped tensor, or metadata that disagree with the model, is an error naming them, and so is a
// non-finite value in any tensor (naming the first: tensor and index) unless allowNonfinite.
// A path ending in .ckpt is a MindSpore checkpoint (model/mindspore_ckpt.ts, names mapped by
// model/mindspore_names.ts): read into the same Checkpoint (no training record), and written from one.
import { Tensor, fmt, fromHalfBits } from '../engine/index.ts';
import { decodeSafetensors, encodeSafetensors, type StTensor } from './safetensors.ts';
import { resolveConfig, type Group, type ModelConfig, type ModelSize, type Stem } from './architecture.ts';
import { ShuffleNetV1 } from './shufflenet.ts';
import type { HostTensor } from './module.ts';
import { decodeMindsporeCkpt, encodeMindsporeCkpt, msText, msTextOf } from './mindspore_ckpt.ts';
import { MS_CONFIG_TAG, checkLayout, fromMindspore, inferMindsporeConfig, toMindspore } from './mindspore_names.ts';

export const CHECKPOINT_FORMAT = 'shufflenet-webgpu-v1';
export const MOMENTUM_PREFIX = 'optimizer.momentum.';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** JSON-serialisable training state (epoch, step, loss scale, RNG state, anything else the trainer needs). */
export type TrainingRecord = Record<string, unknown>;

export interface SaveOptions {
  training?: TrainingRecord;
  /** Momentum buffers by parameter name (each the parameter's shape, f32). */
  momenta?: Map<string, Tensor>;
}

export interface Checkpoint {
  config: ModelConfig;
  /** Parameters and BN statistics by state-dict name. */
  state: Map<string, HostTensor>;
  momenta: Map<string, HostTensor>;
  training: TrainingRecord | null;
  metadata: Record<string, string>;
  format: 'safetensors' | 'mindspore';
  /** What a reader should know about how the file was read (a .ckpt's assumed stem, state left behind). */
  notes: string[];
}

/** A MindSpore checkpoint, by its extension. */
export const isMindsporePath = (path: string): boolean => path.toLowerCase().endsWith('.ckpt');

/**
 * What a .ckpt cannot say for itself (MindSpore's own files record no configuration): the stem and
 * nominal image size, and optionally size and group (otherwise inferred from the shapes). Given
 * values must agree with a configuration the file records.
 */
export interface MindsporeHints { size?: ModelSize; group?: Group; stem?: Stem; imageSize?: number }

export function configMetadata(c: ModelConfig): Record<string, string> {
  return { format: CHECKPOINT_FORMAT, model_size: c.size, group: String(c.group), n_class: String(c.classes), image_size: String(c.imageSize), stem: c.stem };
}

/** Model configuration from checkpoint metadata (ours or the PyTorch twin's fixtures), validated. */
export function configFromMetadata(meta: Record<string, string>, source: string): ModelConfig {
  for (const k of ['model_size', 'group', 'n_class']) {
    if (!(k in meta)) throw new CheckpointError(`${source}: metadata has no '${k}': not a ShuffleNetV1 checkpoint`);
  }
  try {
    return resolveConfig({
      size: meta.model_size as ModelSize, group: Number(meta.group) as Group, classes: Number(meta.n_class),
      imageSize: meta.image_size ? Number(meta.image_size) : undefined, stem: (meta.stem ?? 'imagenet') as Stem,
    });
  } catch (e) {
    throw new CheckpointError(`${source}: metadata describe no valid model: ${(e as Error).message}`);
  }
}

/** `model` (and optionally optimizer state) as a safetensors checkpoint's bytes. */
export async function encodeCheckpoint(model: ShuffleNetV1, opts: SaveOptions = {}): Promise<Uint8Array> {
  const params = new Map(model.parameters().map((p) => [p.name, p.tensor]));
  const tensors: Record<string, StTensor> = {};
  for (const [k, v] of await model.readStateDict()) tensors[k] = { dtype: 'F32', shape: v.shape, data: v.data };
  for (const [k, m] of opts.momenta ?? []) {
    const p = params.get(k);
    if (!p) throw new CheckpointError(`saveCheckpoint: momentum buffer for '${k}', which is not a parameter of the model`);
    if (m.dtype !== 'f32' || m.shape.join() !== p.shape.join()) {
      throw new CheckpointError(`saveCheckpoint: momentum '${k}' is ${m.dtype}${fmt(m.shape)}, parameter is f32${fmt(p.shape)}`);
    }
    tensors[MOMENTUM_PREFIX + k] = { dtype: 'F32', shape: [...m.shape], data: await m.read() };
  }
  const metadata = configMetadata(model.config);
  if (opts.training) metadata.training = JSON.stringify(opts.training);
  return encodeSafetensors(tensors, metadata);
}

function toHost(name: string, t: StTensor, source: string): HostTensor {
  switch (t.dtype) {
    case 'F32': case 'F64': return { shape: t.shape, data: t.data };
    case 'F16': return { shape: t.shape, data: Float32Array.from(t.data, fromHalfBits) };
    default: throw new CheckpointError(`${source}: tensor '${name}' is ${t.dtype}; model tensors must be F32, F64 or F16`);
  }
}

export interface ReadOptions {
  /** Load Inf/NaN values instead of refusing them (to inspect a diverged run's weights). */
  allowNonfinite?: boolean;
  /** For a .ckpt. */
  mindspore?: MindsporeHints;
}

/** The first non-finite value of the tensors in the order given, and how many there are in all. */
export function findNonFinite(tensors: Iterable<[string, HostTensor]>): { name: string; index: number; coords: number[]; value: number; count: number; tensors: number } | null {
  let first: { name: string; index: number; coords: number[]; value: number } | null = null;
  let count = 0, bad = 0;
  for (const [name, t] of tensors) {
    let here = 0;
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i]!;
      if (v - v === 0) continue; // finite (Inf - Inf and NaN - NaN are NaN)
      if (!first) first = { name, index: i, coords: unravel(i, t.shape), value: v };
      here++;
    }
    count += here;
    if (here) bad++;
  }
  return first && { ...first, count, tensors: bad };
}

function unravel(i: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) { out[d] = i % shape[d]!; i = Math.floor(i / shape[d]!); }
  return out;
}

/**
 * Decode and validate a checkpoint's bytes (format, metadata, finite values; not yet against a model).
 * `path` (a file name or URL) names it in errors, and its extension picks the format: .ckpt MindSpore, else safetensors.
 */
export function decodeCheckpoint(bytes: Uint8Array, path: string, opts: ReadOptions = {}): Checkpoint {
  const ck = isMindsporePath(path) ? fromMindsporeBytes(bytes, path, opts.mindspore ?? {}) : fromSafetensorsBytes(bytes, path);
  if (!opts.allowNonfinite) {
    const bad = findNonFinite([...ck.state, ...[...ck.momenta].map(([k, v]) => [MOMENTUM_PREFIX + k, v] as [string, HostTensor])]);
    if (bad) {
      throw new CheckpointError(`${path}: tensor '${bad.name}' holds ${bad.value} at index ${bad.index} ${fmt(bad.coords)} ` +
        `(${bad.count} non-finite value${bad.count === 1 ? '' : 's'} in ${bad.tensors} tensor${bad.tensors === 1 ? '' : 's'}): the run that saved it had diverged. ` +
        'Use an earlier checkpoint; to load it anyway for inspection, allow non-finite values (--allow-nonfinite in eval and predict).');
    }
  }
  return ck;
}

function fromSafetensorsBytes(bytes: Uint8Array, path: string): Checkpoint {
  const file = decodeSafetensors(bytes, path);
  const metadata = file.metadata;
  const config = configFromMetadata(metadata, path);
  let training: TrainingRecord | null = null;
  if (metadata.training !== undefined) {
    try { training = JSON.parse(metadata.training) as TrainingRecord; } catch (e) {
      throw new CheckpointError(`${path}: metadata 'training' is not valid JSON: ${(e as Error).message}`);
    }
  }
  const state = new Map<string, HostTensor>(), momenta = new Map<string, HostTensor>();
  for (const [k, t] of Object.entries(file.tensors)) {
    // PyTorch's BN step counter: only used when momentum=None, which ShuffleNet never sets
    if (k.endsWith('.num_batches_tracked')) continue;
    if (k.startsWith(MOMENTUM_PREFIX)) momenta.set(k.slice(MOMENTUM_PREFIX.length), toHost(k, t, path));
    else state.set(k, toHost(k, t, path));
  }
  return { config, state, momenta, training, metadata, format: 'safetensors', notes: [] };
}

/** A .ckpt: its configuration as recorded by us (MS_CONFIG_TAG), else inferred from shapes and `hints`. */
function fromMindsporeBytes(bytes: Uint8Array, path: string, hints: MindsporeHints): Checkpoint {
  const file = decodeMindsporeCkpt(bytes, path);
  const recorded = file.entries.find((e) => e.tag === MS_CONFIG_TAG);
  const notes: string[] = [];
  let config: ModelConfig;
  if (recorded) {
    let meta: Record<string, string>;
    try { meta = JSON.parse(msTextOf(recorded)) as Record<string, string>; } catch (e) {
      throw new CheckpointError(`${path}: '${MS_CONFIG_TAG}' is not a JSON object of strings: ${(e as Error).message}`);
    }
    config = configFromMetadata(meta, `${path} ('${MS_CONFIG_TAG}')`);
    const given = { size: hints.size, group: hints.group, stem: hints.stem };
    const clash = (Object.keys(given) as (keyof typeof given)[]).filter((k) => given[k] !== undefined && given[k] !== config[k]);
    if (clash.length) {
      throw new CheckpointError(`${path}: records ${clash.map((k) => `${k} ${config[k]}`).join(', ')}; the given ${clash.map((k) => `${k} ${given[k]}`).join(', ')} disagree${clash.length === 1 ? 's' : ''}`);
    }
    if (hints.imageSize) config = { ...config, imageSize: hints.imageSize };
  } else {
    const dims = new Map(file.entries.map((e) => [e.tag, e.dims]));
    const { size, group, classes } = inferMindsporeConfig(dims, path, hints);
    if (!hints.stem) notes.push(`${path} records no stem (MindSpore checkpoints carry no model configuration): assuming the seed's imagenet stem (--stem cifar for a model trained with the cifar stem)`);
    try {
      config = resolveConfig({ size, group, classes, stem: hints.stem ?? 'imagenet', imageSize: hints.imageSize ?? 224 });
    } catch (e) {
      throw new CheckpointError(`${path}: ${(e as Error).message}`);
    }
  }
  const { state, momenta, ignored } = fromMindspore(file.entries, config, path);
  if (ignored.length) notes.push(`${path}: MindSpore training state not carried over: ${ignored.join(', ')}`);
  return { config, state, momenta, training: null, metadata: configMetadata(config), format: 'mindspore', notes };
}

/**
 * Host tensors (a read checkpoint's, or a model's) as a checkpoint's bytes, in the format `path`'s
 * extension picks: MindSpore .ckpt (weights, momenta as moments.*, the configuration as a str value;
 * `crc` adds MindSpore's CRC trailer), else safetensors (with the training record, if any). The
 * tensors must be exactly the model's state dict (and momenta of its parameters).
 */
export function encodeCheckpointAs(path: string, ck: Pick<Checkpoint, 'config' | 'state' | 'momenta' | 'training'>, opts: { crc?: boolean } = {}): Uint8Array {
  if (isMindsporePath(path)) {
    const entries = toMindspore(ck.config, ck.state, ck.momenta, path);
    entries.push(msText(MS_CONFIG_TAG, JSON.stringify(configMetadata(ck.config))));
    return encodeMindsporeCkpt(entries, { crc: opts.crc ?? false });
  }
  checkLayout(ck.config, ck.state, ck.momenta, path);
  const f32 = (t: HostTensor) => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));
  const tensors: Record<string, StTensor> = {};
  for (const [k, t] of ck.state) tensors[k] = { dtype: 'F32', shape: [...t.shape], data: f32(t) };
  for (const [k, t] of ck.momenta) tensors[MOMENTUM_PREFIX + k] = { dtype: 'F32', shape: [...t.shape], data: f32(t) };
  const metadata = configMetadata(ck.config);
  if (ck.training) metadata.training = JSON.stringify(ck.training);
  return encodeSafetensors(tensors, metadata);
}

/** A checkpoint already decoded, put into `model` (or a new one): loadCheckpoint's second half (train/checkpoint_io.ts). */
export function applyCheckpoint(ck: Checkpoint, path: string, model?: ShuffleNetV1, strict = true): ShuffleNetV1 {
  if (model) {
    const a = model.config, b = ck.config;
    // imageSize is nominal (no tensor depends on it); stem changes no shape, so it must be checked here
    const diff = (['size', 'group', 'classes', 'stem'] as const).filter((k) => a[k] !== b[k]);
    if (diff.length) {
      throw new CheckpointError(`${path}: checkpoint is for ${diff.map((k) => `${k}=${b[k]}`).join(', ')} but the model has ${diff.map((k) => `${k}=${a[k]}`).join(', ')}`);
    }
  }
  const m = model ?? new ShuffleNetV1(ck.config);
  try {
    m.loadStateDict(ck.state, strict, path);
    const params = new Map(m.parameters().map((p) => [p.name, p.tensor]));
    const bad = [...ck.momenta].filter(([k, v]) => params.get(k)?.shape.join() !== v.shape.join())
      .map(([k, v]) => (params.has(k) ? `${MOMENTUM_PREFIX}${k}: expected ${fmt(params.get(k)!.shape)}, got ${fmt(v.shape)}` : `${MOMENTUM_PREFIX}${k}: no such parameter`));
    if (bad.length) throw new CheckpointError(`${path}: momentum buffers do not match the model:\n  ${bad.join('\n  ')}`);
  } catch (e) {
    if (!model) m.dispose();
    throw e;
  }
  return m;
}
