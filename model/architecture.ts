// ShuffleNetV1's architecture as plain data: channel tables, the validated configuration and the list
// of shuffle units. No GPU here, so the summary (and its script) can describe any model without a device.
//
// Design (Megvii's ShuffleNetV1 as the seed's MindSpore tutorial writes it):
//   stem: conv3x3 stride 2 pad 1 (3 -> c1) + BN + ReLU, then maxpool 3x3/2 'same' ('cifar' stem: stride 1,
//   no pool); stages 2-4 repeat [4, 8, 4] units, the first of each with stride 2; global average pool and a
//   dense layer. Unit(in, out, mid = out/4): 1x1 group conv in -> mid (groups 1 for the very first unit)
//   + BN + ReLU, channel shuffle, depthwise 3x3 + BN, 1x1 group conv mid -> out' + BN;
//   stride 2: relu(concat(avgpool3x3/2(x), main)) with out' = out - in; stride 1: relu(x + main).
//
// Channels. g=3 and g=8 are Megvii's tables (network.py, stage_out_channels). g=1, 2, 4 come from the
// ShuffleNet paper's Table 1 at 1.0x (stem 24). Megvii's code has no table for them at other sizes, so
// they are derived with the rule that regenerates Megvii's own g=3/g=8 tables exactly (a test checks):
//   stage channels = 1.0x channels x factor, rounded to a multiple of 4g (mid = out/4 must split into g
//     groups; ties round up, as mmcls's make_divisible does): 0.5x g=2 100 -> 104, 1.5x g=4 408 -> 416;
//   stem = Megvii's per-size stem (0.5x 12, 1.0x 24, 1.5x 24, 2.0x 48), raised to the next value for which
//     stage2 - stem divides by g (the first unit's 1x1 group conv outputs stage2 - stem): this is why
//     Megvii's 0.5x g=8 stem is 16, not 12.
import { OpError } from '../engine/errors.ts'; // not index.ts: no WebGPU binding needed to describe a model

export const SIZES = ['0.5x', '1.0x', '1.5x', '2.0x'] as const;
export const GROUPS = [1, 2, 3, 4, 8] as const;
export const STEMS = ['imagenet', 'cifar'] as const;
export type ModelSize = (typeof SIZES)[number];
export type Group = (typeof GROUPS)[number];
export type Stem = (typeof STEMS)[number];

export const STAGE_REPEATS = [4, 8, 4] as const;
export const MIN_IMAGE_SIZE = 32;

const FACTOR: Record<ModelSize, number> = { '0.5x': 0.5, '1.0x': 1, '1.5x': 1.5, '2.0x': 2 };
/** Megvii's stem width per size (its 1.5x keeps 24). */
const STEM_WIDTH: Record<ModelSize, number> = { '0.5x': 12, '1.0x': 24, '1.5x': 24, '2.0x': 48 };
/** Stage 2 output channels at 1.0x (paper Table 1); stages 3 and 4 double. */
const STAGE2_1X: Record<Group, number> = { 1: 144, 2: 200, 3: 240, 4: 272, 8: 384 };

/** (c1, stage2, stage3, stage4) from Megvii's network.py. */
export const MEGVII_CHANNELS: Record<3 | 8, Record<ModelSize, readonly [number, number, number, number]>> = {
  3: { '0.5x': [12, 120, 240, 480], '1.0x': [24, 240, 480, 960], '1.5x': [24, 360, 720, 1440], '2.0x': [48, 480, 960, 1920] },
  8: { '0.5x': [16, 192, 384, 768], '1.0x': [24, 384, 768, 1536], '1.5x': [24, 576, 1152, 2304], '2.0x': [48, 768, 1536, 3072] },
};

/** The scaling rule described in the header, for any size and group. */
export function derivedChannels(size: ModelSize, group: Group): [number, number, number, number] {
  const q = 4 * group;
  const stages = [1, 2, 4].map((m) => Math.max(q, Math.floor((STAGE2_1X[group] * m * FACTOR[size]) / q + 0.5) * q));
  let c1 = STEM_WIDTH[size];
  while ((stages[0] - c1) % group !== 0) c1++;
  return [c1, stages[0], stages[1], stages[2]];
}

/** (c1, stage2, stage3, stage4): Megvii's table where it has one, else the derived rule. */
export function channelsFor(size: ModelSize, group: Group): [number, number, number, number] {
  if (group === 3 || group === 8) return [...MEGVII_CHANNELS[group][size]];
  return derivedChannels(size, group);
}

export interface ShuffleNetConfig {
  size?: ModelSize;
  group?: Group;
  classes?: number;
  /** Nominal input size: checked (>= 32) and recorded in checkpoints; forward accepts any size >= 32. */
  imageSize?: number;
  stem?: Stem;
  /** Seed of the parameter initialisation. */
  seed?: number;
}

export type ModelConfig = Required<Omit<ShuffleNetConfig, 'seed'>>;

/** Fill defaults and reject what the architecture cannot build, with the valid choices in the message. */
export function resolveConfig(c: ShuffleNetConfig = {}): ModelConfig {
  const size = c.size ?? '1.0x', group = c.group ?? 3, classes = c.classes ?? 1000;
  const imageSize = c.imageSize ?? 224, stem = c.stem ?? 'imagenet';
  if (!SIZES.includes(size) || !GROUPS.includes(group)) {
    throw new OpError('ShuffleNetV1', `unsupported size ${JSON.stringify(size)} with group ${JSON.stringify(group)}; ` +
      `valid: size ${SIZES.join(' | ')} with group ${GROUPS.join(' | ')} (every combination)`);
  }
  if (!STEMS.includes(stem)) throw new OpError('ShuffleNetV1', `unknown stem ${JSON.stringify(stem)}; valid: ${STEMS.join(' | ')}`);
  if (!(Number.isInteger(classes) && classes > 0)) throw new OpError('ShuffleNetV1', `classes must be a positive integer, got ${classes}`);
  checkImageSize(imageSize, imageSize, 'imageSize');
  return { size, group, classes, imageSize, stem };
}

export function checkImageSize(H: number, W: number, what: string): void {
  if (!(Number.isInteger(H) && Number.isInteger(W) && H >= MIN_IMAGE_SIZE && W >= MIN_IMAGE_SIZE)) {
    throw new OpError('ShuffleNetV1', `${what} must be at least ${MIN_IMAGE_SIZE}x${MIN_IMAGE_SIZE} ` +
      `(global pooling makes any size >= ${MIN_IMAGE_SIZE} work), got ${H}x${W}`);
  }
}

export interface UnitPlan {
  /** Index in `features`. */
  index: number;
  stage: 2 | 3 | 4;
  inC: number;
  outC: number;
  mid: number;
  /** Channels the main branch produces: outC - inC for stride 2 (the pooled input fills the rest). */
  mainOut: number;
  stride: 1 | 2;
  /** Groups of the first 1x1 conv: 1 for the very first unit (its input, the stem, is too narrow). */
  groups1: number;
  group: number;
}

/** The 16 shuffle units in `features` order. */
export function unitPlans(size: ModelSize, group: Group): UnitPlan[] {
  const [c1, ...stages] = channelsFor(size, group);
  const out: UnitPlan[] = [];
  let inC = c1;
  stages.forEach((outC, s) => {
    for (let i = 0; i < STAGE_REPEATS[s]; i++) {
      const stride = i === 0 ? 2 : 1;
      out.push({
        index: out.length, stage: (s + 2) as 2 | 3 | 4, inC, outC, mid: outC / 4, mainOut: stride === 2 ? outC - inC : outC,
        stride, groups1: s === 0 && i === 0 ? 1 : group, group,
      });
      inC = outC;
    }
  });
  return out;
}
