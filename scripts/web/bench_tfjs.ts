// ShuffleNetV1 in TensorFlow.js ops, for `npm run bench:web` only (never imported by engine/, kernels/
// or model/): the same units and channel tables as model/shufflenet.ts (read from model/architecture.ts),
// in NHWC, TF.js's native layout. TF.js has no grouped convolution, so a grouped 1x1 conv is one conv2d
// per group on a channel split, then a concat; the channel shuffle is reshape/transpose/reshape; the
// depthwise conv is tf.depthwiseConv2d. Batch norm uses batch statistics in training (running ones
// updated) and running statistics in inference, as ours does.
import * as tf from '@tensorflow/tfjs';
import { channelsFor, unitPlans, type ModelConfig, type UnitPlan } from '../../model/architecture.ts';

const EPS = 1e-5, BN_MOMENTUM = 0.1;

class Bn {
  readonly gamma: tf.Variable<tf.Rank.R1>; readonly beta: tf.Variable<tf.Rank.R1>;
  readonly mean: tf.Variable<tf.Rank.R1>; readonly variance: tf.Variable<tf.Rank.R1>;
  constructor(c: number) {
    this.gamma = tf.variable(tf.ones([c]) as tf.Tensor1D); this.beta = tf.variable(tf.zeros([c]) as tf.Tensor1D);
    this.mean = tf.variable(tf.zeros([c]) as tf.Tensor1D, false); this.variance = tf.variable(tf.ones([c]) as tf.Tensor1D, false);
  }
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    if (!training) return tf.batchNorm4d(x, this.mean, this.variance, this.beta, this.gamma, EPS);
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    this.mean.assign(tf.add(tf.mul(this.mean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
    this.variance.assign(tf.add(tf.mul(this.variance, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM)));
    return tf.batchNorm4d(x, mean as tf.Tensor1D, variance as tf.Tensor1D, this.beta, this.gamma, EPS);
  }
}

/** Glorot-uniform weights: the initialisation does not matter to the timing, only the shapes do. */
const glorot = (shape: number[], fanIn: number, fanOut: number, seed: number) =>
  tf.variable(tf.randomUniform(shape, -Math.sqrt(6 / (fanIn + fanOut)), Math.sqrt(6 / (fanIn + fanOut)), 'float32', seed));

/** 1x1 conv with `groups` groups: per-group weights [1, 1, in/g, out/g]. */
function groupWeights(inC: number, outC: number, groups: number, seed: number): tf.Variable[] {
  return Array.from({ length: groups }, (_, i) => glorot([1, 1, inC / groups, outC / groups], inC / groups, outC / groups, seed + i));
}

function groupConv(x: tf.Tensor4D, ws: tf.Variable[]): tf.Tensor4D {
  if (ws.length === 1) return tf.conv2d(x, ws[0] as tf.Tensor4D, 1, 'valid');
  const parts = tf.split(x, ws.length, 3) as tf.Tensor4D[];
  return tf.concat4d(parts.map((p, i) => tf.conv2d(p, ws[i] as tf.Tensor4D, 1, 'valid')), 3);
}

function channelShuffle(x: tf.Tensor4D, g: number): tf.Tensor4D {
  const [N, H, W, C] = x.shape;
  return tf.reshape(tf.transpose(tf.reshape(x, [N, H, W, g, C / g]), [0, 1, 2, 4, 3]), [N, H, W, C]);
}

class Unit {
  readonly conv1: tf.Variable[]; readonly bn1: Bn;
  readonly dw: tf.Variable; readonly bn2: Bn;
  readonly conv2: tf.Variable[]; readonly bn3: Bn;
  constructor(readonly p: UnitPlan, seed: number) {
    this.conv1 = groupWeights(p.inC, p.mid, p.groups1, seed);
    this.bn1 = new Bn(p.mid);
    this.dw = glorot([3, 3, p.mid, 1], 9, 9, seed + 100);
    this.bn2 = new Bn(p.mid);
    this.conv2 = groupWeights(p.mid, p.mainOut, p.group, seed + 200);
    this.bn3 = new Bn(p.mainOut);
  }
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    const m1 = tf.relu(this.bn1.forward(groupConv(x, this.conv1), training));
    const s = this.p.group === 1 ? m1 : channelShuffle(m1, this.p.group);
    const d = this.bn2.forward(tf.depthwiseConv2d(s, this.dw as tf.Tensor4D, this.p.stride, 1), training);
    const m = this.bn3.forward(groupConv(d, this.conv2), training);
    return this.p.stride === 1 ? tf.relu(tf.add(x, m) as tf.Tensor4D) : tf.relu(tf.concat4d([tf.avgPool(x, 3, 2, 'same'), m], 3));
  }
}

export class TfShuffleNet {
  readonly stem: tf.Variable; readonly stemBn: Bn;
  readonly units: Unit[];
  readonly fcW: tf.Variable; readonly fcB: tf.Variable;

  constructor(readonly config: ModelConfig, seed = 1) {
    const [c1, , , c4] = channelsFor(config.size, config.group);
    this.stem = glorot([3, 3, 3, c1], 27, 9 * c1, seed);
    this.stemBn = new Bn(c1);
    this.units = unitPlans(config.size, config.group).map((p, i) => new Unit(p, seed + 1000 * (i + 1)));
    this.fcW = glorot([c4, config.classes], c4, config.classes, seed + 99);
    this.fcB = tf.variable(tf.zeros([config.classes]));
  }

  /** The trainable variables (what the optimizer updates; the parameter count counts these). */
  trainable(): tf.Variable[] {
    const bn = (b: Bn) => [b.gamma, b.beta];
    return [this.stem, ...bn(this.stemBn),
      ...this.units.flatMap((u) => [...u.conv1, ...bn(u.bn1), u.dw, ...bn(u.bn2), ...u.conv2, ...bn(u.bn3)]),
      this.fcW, this.fcB];
  }

  /** x [N, H, W, 3] normalised -> logits [N, classes]. */
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    let h = tf.relu(this.stemBn.forward(tf.conv2d(x, this.stem as tf.Tensor4D, this.config.stem === 'imagenet' ? 2 : 1, 1), training));
    if (this.config.stem === 'imagenet') h = tf.maxPool(h, 3, 2, 'same');
    for (const u of this.units) h = u.forward(h, training);
    return tf.add(tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, this.fcW as tf.Tensor2D), this.fcB);
  }
}
