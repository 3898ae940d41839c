// ShuffleNetV1's tensors under MindSpore's parameter names, as the seed tutorial's cells name them:
//   first_conv = SequentialCell(Conv2d, BatchNorm2d, ReLU)                  -> first_conv.0.weight, first_conv.1.*
//   features.N.branch_main_1 = [GroupConv, BatchNorm2d, ReLU]
//   features.N.branch_main_2 = [Conv2d (depthwise), BatchNorm2d, GroupConv, BatchNorm2d]
//   GroupConv = CellList `convs` of one Conv2d per group                    -> ...branch_main_1.0.convs.K.weight
//   BatchNorm2d: gamma, beta, moving_mean, moving_variance                  (ours: weight, bias, running_mean, running_var)
//   classifier = Dense: weight [out, in], bias                              (as ours)
// Our grouped 1x1 conv weight [out, in/g, 1, 1] is the concatenation along dim 0 of the per-group
// convs' [out/g, in/g, 1, 1] (group K reads input channels K·in/g.. and writes outputs K·out/g..);
// the first unit's branch_main_1 GroupConv has one group (the seed's first_group). MindSpore's
// Momentum keeps its buffer of parameter P as `moments.P` (ours: optimizer.momentum.<name>); a
// training checkpoint also holds learning_rate, global_step, momentum and the like, which are not
// carried over. A .ckpt has no place for our configuration, so we write it as a str value
// (MS_CONFIG_TAG, as save_checkpoint's append_dict does); without it, size, group and classes are
// inferred from the tensor shapes and the stem (which changes no shape) must be given.
import { GROUPS, SIZES, channelsFor, unitPlans, type Group, type ModelConfig, type ModelSize } from './architecture.ts';
import type { HostTensor } from './module.ts';
import { MindsporeCkptError, msFloat32, msToFloat32, type MsEntry } from './mindspore_ckpt.ts';

export const MS_MOMENTS_PREFIX = 'moments.';
/** A str value holding our checkpoint metadata as JSON (model_size, group, n_class, image_size, stem). */
export const MS_CONFIG_TAG = 'shufflenet_webgpu_config';
/** Optimizer and loop state of MindSpore training checkpoints: recognised, not carried over. */
export const MS_TRAINING_TAGS: readonly string[] = ['learning_rate', 'global_step', 'momentum', 'scale_sense', 'loss_scale',
  'current_iterator_step', 'last_overflow_iterator_step', 'epoch_num', 'step_num', 'random_op'];

/** One of our state-dict tensors and the MindSpore tensors that make it. */
export interface MsSlot {
  name: string;
  shape: number[];
  /** Tags whose tensors, concatenated along dim 0, give ours (several for a group conv). */
  tags: string[];
  /** A trainable parameter (it has a momentum buffer), not a batch-norm running statistic. */
  param: boolean;
}

/** Every tensor of the model, in state-dict order, with its MindSpore tags. */
export function mindsporeLayout(c: Pick<ModelConfig, 'size' | 'group' | 'classes'>): MsSlot[] {
  const [c1, , , c4] = channelsFor(c.size, c.group);
  const slots: MsSlot[] = [];
  const one = (name: string, shape: number[], param = true) => slots.push({ name, shape, tags: [name], param });
  const bn = (p: string, C: number) => {
    for (const [ours, ms, param] of [['weight', 'gamma', true], ['bias', 'beta', true], ['running_mean', 'moving_mean', false], ['running_var', 'moving_variance', false]] as const) {
      slots.push({ name: `${p}.${ours}`, shape: [C], tags: [`${p}.${ms}`], param });
    }
  };
  const groupConv = (p: string, out: number, inC: number, g: number) =>
    slots.push({ name: `${p}.weight`, shape: [out, inC / g, 1, 1], tags: Array.from({ length: g }, (_, k) => `${p}.convs.${k}.weight`), param: true });
  one('first_conv.0.weight', [c1, 3, 3, 3]);
  bn('first_conv.1', c1);
  for (const u of unitPlans(c.size, c.group)) {
    const p = `features.${u.index}`;
    groupConv(`${p}.branch_main_1.0`, u.mid, u.inC, u.groups1);
    bn(`${p}.branch_main_1.1`, u.mid);
    one(`${p}.branch_main_2.0.weight`, [u.mid, 1, 3, 3]);
    bn(`${p}.branch_main_2.1`, u.mid);
    groupConv(`${p}.branch_main_2.2`, u.mainOut, u.mid, u.group);
    bn(`${p}.branch_main_2.3`, u.mainOut);
  }
  one('classifier.weight', [c.classes, c4]);
  one('classifier.bias', [c.classes]);
  return slots;
}

/** Shape of one of a slot's tags (its share of dim 0). */
const partShape = (s: MsSlot): number[] => [s.shape[0]! / s.tags.length, ...s.shape.slice(1)];
const fmt = (d: readonly number[]) => `[${d.join(', ')}]`;
/** A tag and, for an entry read from a file, where its first Value is. */
const at = (e: MsEntry) => (e.offset === undefined ? e.tag : `${e.tag} (byte ${e.offset})`);
const listed = (xs: string[], max = 12) => `${xs.slice(0, max).join(', ')}${xs.length > max ? `, ... (${xs.length - max} more)` : ''}`;

/** What a layout lacks in `dims` (tag -> dims): missing tags and tags of the wrong shape. */
function mismatches(slots: MsSlot[], dims: Map<string, number[]>): { missing: string[]; wrong: string[] } {
  const missing: string[] = [], wrong: string[] = [];
  for (const s of slots) {
    const want = partShape(s);
    for (const t of s.tags) {
      const d = dims.get(t);
      if (!d) missing.push(t);
      else if (d.join() !== want.join()) wrong.push(`${t}: expected ${fmt(want)}, got ${fmt(d)}`);
    }
  }
  return { missing, wrong };
}

/**
 * Size, group and classes from the tensors' shapes: the one configuration whose layout they fit
 * (restricted to `hints`). Throws naming what the closest configuration lacks when none fits.
 */
export function inferMindsporeConfig(dims: Map<string, number[]>, source: string, hints: { size?: ModelSize; group?: Group } = {}): { size: ModelSize; group: Group; classes: number } {
  const cls = dims.get('classifier.weight');
  if (!cls || cls.length !== 2) {
    throw new MindsporeCkptError(`${source}: no 2-D 'classifier.weight', so the model cannot be inferred; ` +
      `is it a ShuffleNetV1 checkpoint with the seed tutorial's cell names? (tags: ${listed([...dims.keys()], 6)})`);
  }
  const classes = cls[0]!;
  const tried: { size: ModelSize; group: Group; missing: string[]; wrong: string[]; total: number }[] = [];
  for (const size of hints.size ? [hints.size] : SIZES) {
    for (const group of hints.group ? [hints.group] : GROUPS) {
      const slots = mindsporeLayout({ size, group, classes });
      tried.push({ size, group, ...mismatches(slots, dims), total: slots.reduce((a, s) => a + s.tags.length, 0) });
    }
  }
  const fits = tried.filter((t) => !t.missing.length && !t.wrong.length);
  if (fits.length === 1) return { size: fits[0]!.size, group: fits[0]!.group, classes };
  if (fits.length > 1) {
    throw new MindsporeCkptError(`${source}: the shapes fit ${fits.map((f) => `${f.size} g=${f.group}`).join(' and ')}; say which with the model size and group flags`);
  }
  const bad = (t: (typeof tried)[number]) => t.missing.length + t.wrong.length;
  const best = tried.sort((a, b) => b.total - bad(b) - (a.total - bad(a)) || bad(a) - bad(b))[0]!; // most tags that fit
  const hinted = hints.size || hints.group ? ` (given ${[hints.size && `size ${hints.size}`, hints.group && `group ${hints.group}`].filter(Boolean).join(', ')})` : '';
  const lines = [`${source}: the tensors fit no ShuffleNetV1 configuration${hinted}, so size and group cannot be inferred; ` +
    `the closest, ${best.size} g=${best.group} with ${classes} classes, lacks ${best.missing.length + best.wrong.length} of its ${best.total} tags:`];
  if (best.missing.length) lines.push(`  missing (${best.missing.length}): ${listed(best.missing)}`);
  if (best.wrong.length) lines.push(`  wrong shape (${best.wrong.length}):`, ...best.wrong.slice(0, 12).map((w) => `    ${w}`));
  throw new MindsporeCkptError(lines.join('\n'));
}

export interface FromMindspore {
  state: Map<string, HostTensor>;
  momenta: Map<string, HostTensor>;
  /** Training-state tags present and not carried over (MS_TRAINING_TAGS). */
  ignored: string[];
}

/**
 * Our state dict and momenta from a checkpoint's entries, for `config`. Strict: every tag must map
 * (a weight, a moment, our config value, or training state); all problems are listed in one error.
 */
export function fromMindspore(entries: readonly MsEntry[], config: Pick<ModelConfig, 'size' | 'group' | 'classes'>, source: string): FromMindspore {
  const byTag = new Map(entries.map((e) => [e.tag, e]));
  const used = new Set<string>();
  const state = new Map<string, HostTensor>(), momenta = new Map<string, HostTensor>();
  const missing: string[] = [], wrong: string[] = [], partial: string[] = [];
  const gather = (s: MsSlot, tags: string[]): Float32Array | null => {
    const want = partShape(s);
    const parts: Float32Array[] = [];
    for (const t of tags) {
      const e = byTag.get(t)!;
      used.add(t);
      if (e.dims.join() !== want.join()) { wrong.push(`${at(e)}: expected ${fmt(want)}, got ${fmt(e.dims)}`); return null; }
      try { parts.push(msToFloat32(e)); } catch (err) { wrong.push(`${at(e)}: ${(err as Error).message.replace(/^'[^']*' /, '')}`); return null; }
    }
    if (parts.length === 1) return parts[0]!;
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  };
  for (const s of mindsporeLayout(config)) {
    const absent = s.tags.filter((t) => !byTag.has(t));
    if (absent.length) {
      missing.push(...absent);
      s.tags.forEach((t) => used.add(t)); // the rest of a group conv is not unmapped, just incomplete
    } else {
      const data = gather(s, s.tags);
      if (data) state.set(s.name, { shape: s.shape, data });
    }
    if (!s.param) continue;
    const mtags = s.tags.map((t) => MS_MOMENTS_PREFIX + t);
    const have = mtags.filter((t) => byTag.has(t));
    if (have.length && have.length < mtags.length) {
      have.forEach((t) => used.add(t));
      partial.push(`${s.name}: has ${have.length} of ${mtags.join(', ')}`);
    } else if (have.length) {
      const data = gather(s, mtags);
      if (data) momenta.set(s.name, { shape: s.shape, data });
    }
  }
  const ignored = entries.map((e) => e.tag).filter((t) => MS_TRAINING_TAGS.includes(t));
  const unmapped = entries.filter((e) => !used.has(e.tag) && e.tag !== MS_CONFIG_TAG && !MS_TRAINING_TAGS.includes(e.tag)).map(at);
  if (missing.length + wrong.length + partial.length + unmapped.length) {
    const lines = [`${source}: checkpoint does not match ShuffleNetV1 ${config.size} g=${config.group} with ${config.classes} classes`];
    if (missing.length) lines.push(`  missing tags (${missing.length}): ${listed(missing)}`);
    if (unmapped.length) lines.push(`  tags that map to no tensor of the model (${unmapped.length}): ${listed(unmapped)}`);
    if (wrong.length) lines.push(`  wrong shape or type (${wrong.length}):`, ...wrong.slice(0, 12).map((w) => `    ${w}`));
    if (partial.length) lines.push(`  incomplete momenta (${partial.length}):`, ...partial.slice(0, 12).map((w) => `    ${w}`));
    throw new MindsporeCkptError(lines.join('\n'));
  }
  return { state, momenta, ignored };
}

/**
 * The layout of `config` after checking that `state` matches it exactly and that every momentum
 * belongs to a parameter and has its shape (one error listing every problem).
 */
export function checkLayout(config: Pick<ModelConfig, 'size' | 'group' | 'classes'>, state: Map<string, HostTensor>, momenta: Map<string, HostTensor>, source: string): MsSlot[] {
  const slots = mindsporeLayout(config);
  const byName = new Map(slots.map((s) => [s.name, s]));
  const bad: string[] = [];
  for (const s of slots) {
    const t = state.get(s.name);
    if (!t) bad.push(`missing ${s.name}`);
    else if (t.shape.join() !== s.shape.join()) bad.push(`${s.name}: expected ${fmt(s.shape)}, got ${fmt(t.shape)}`);
  }
  for (const k of state.keys()) if (!byName.has(k)) bad.push(`unexpected ${k}`);
  for (const [k, m] of momenta) {
    const s = byName.get(k);
    if (!s?.param) bad.push(`momentum for ${k}, which is not a parameter`);
    else if (m.shape.join() !== s.shape.join()) bad.push(`momentum ${k}: expected ${fmt(s.shape)}, got ${fmt(m.shape)}`);
  }
  if (bad.length) throw new MindsporeCkptError(`${source}: does not match ShuffleNetV1 ${config.size} g=${config.group} with ${config.classes} classes:\n  ${bad.slice(0, 20).join('\n  ')}`);
  return slots;
}

/**
 * MindSpore entries of our state dict (and momenta as moments.*), in the network's parameter order
 * with batch norm's as MindSpore registers them (moving statistics first). The state must match the
 * layout of `config` exactly (checkLayout).
 */
export function toMindspore(config: Pick<ModelConfig, 'size' | 'group' | 'classes'>, state: Map<string, HostTensor>, momenta: Map<string, HostTensor>, source: string): MsEntry[] {
  const slots = checkLayout(config, state, momenta, source);
  const split = (s: MsSlot, t: HostTensor, prefix: string): MsEntry[] => {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    const shape = partShape(s), n = data.length / s.tags.length;
    return s.tags.map((tag, k) => msFloat32(prefix + tag, shape, data.subarray(k * n, (k + 1) * n)));
  };
  const weights: MsEntry[] = [], moments: MsEntry[] = [];
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    if (s.tags[0]!.endsWith('.gamma')) { // a batch norm's four slots; MindSpore's BatchNorm2d registers moving_mean, moving_variance, gamma, beta
      for (const j of [i + 2, i + 3, i, i + 1]) weights.push(...split(slots[j]!, state.get(slots[j]!.name)!, ''));
      i += 3;
    } else weights.push(...split(s, state.get(s.name)!, ''));
  }
  for (const s of slots) {
    const m = momenta.get(s.name);
    if (m) moments.push(...split(s, m, MS_MOMENTS_PREFIX));
  }
  return [...weights, ...moments];
}
