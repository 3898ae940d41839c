// The kernel benchmark's cases: every kernel ShuffleNetV1 2.0x g=3 runs at 224x224, at the model's real
// layer sizes, per direction, through each kernel's raw launcher (no argument checks, no tape). Each
// family is written once over its dimensions: the timed row runs it at the real size, the row's check
// (scripts/bench/check.ts) runs the same launcher call at a small size that selects the same kernel
// variants and compares the outputs with the float64 references of tests/ref.
// Counting conventions (the FLOP and byte counts each row assumes):
//   FLOP = 2·MACs for convolutions and the linear layer; for the other kernels a nominal count of
//     arithmetic per element (noted per family below), informational only: those are memory-bound.
//   bytes = compulsory traffic: every input read once, every output written once (activations in the
//     bench's dtype, weights and their gradients f32), except where the algorithm must read a tensor
//     twice: training batch norm reads x (and dy) once for the statistics and once more for the output.
//     Scratch a kernel writes and rereads (partial sums, the transposed weights of pointwise dgrad,
//     augment's column pass) is not counted: it is the implementation's cost, not the op's.
import { Rng, Tensor, type DType } from '../../engine/index.ts';
import { pointwiseForward, pointwiseDgrad, pointwiseWgrad } from '../../kernels/conv2d_pointwise.ts';
import { depthwiseForward, depthwiseDgrad, depthwiseWgrad } from '../../kernels/conv2d_depthwise.ts';
import { directForward, directDgrad, directWgrad } from '../../kernels/conv2d_direct.ts';
import { channelShuffleForward } from '../../kernels/channel_shuffle.ts';
import { maxPoolForward, maxPoolBackward } from '../../kernels/max_pool.ts';
import { avgPoolForward, avgPoolBackward } from '../../kernels/avg_pool.ts';
import { globalAvgPoolForward, globalAvgPoolBackward } from '../../kernels/global_avg_pool.ts';
import { concatForward, concatBackward } from '../../kernels/concat.ts';
import { batchNormStats, batchNormNormalize, batchNormBackward } from '../../kernels/batch_norm.ts';
import { addReluForward, reluBackward } from '../../kernels/elementwise.ts';
import { matmulForward } from '../../kernels/matmul.ts';
import { sumColumns } from '../../kernels/reduce.ts';
import { softmaxCrossEntropyForward, softmaxCrossEntropyBackward } from '../../kernels/softmax_xent.ts';
import { sgdUpdate, type SgdItem } from '../../kernels/sgd.ts';
import { augmentForward, uploadBytes, PARAMS } from '../../kernels/augment.ts';
import { randomCrops, imageParams } from '../../train/data/transforms.ts';
import { summary } from '../../model/summary.ts';
import { conv2dRef, conv2dBackwardRef, shuffledConv2dRef, shuffledConv2dBackwardRef } from '../../tests/ref/conv2d.ts';
import { pointwiseRef, pointwiseBackwardRef } from '../../tests/ref/conv2d_pointwise.ts';
import { channelShuffleRef } from '../../tests/ref/channel_shuffle.ts';
import { maxPoolRef, maxPoolBackwardRef, avgPoolRef, avgPoolBackwardRef, globalAvgPoolRef, globalAvgPoolBackwardRef } from '../../tests/ref/pool.ts';
import { concatRef, concatBackwardRef } from '../../tests/ref/concat.ts';
import { batchNormRef, batchNormBackwardRef } from '../../tests/ref/batch_norm.ts';
import { addReluRef, reluBackwardRef, scaleRef } from '../../tests/ref/elementwise.ts';
import { linearRef, linearBackwardRef } from '../../tests/ref/matmul.ts';
import { softmaxXentRef } from '../../tests/ref/softmax_xent.ts';
import { sgdRef } from '../../tests/ref/sgd.ts';
import { augmentRef } from '../../tests/ref/augment.ts';
import { upload, vals, uniform, zeros } from './inputs.ts';

export type Direction = 'forward' | 'dgrad' | 'wgrad' | 'backward' | 'step';
/** Which ceiling a row is compared with: FMA throughput or copy bandwidth. */
export type Bound = 'compute' | 'memory';

/** A call's outputs by name (tensors it updates in place included). */
export type Outputs = Record<string, Tensor>;
/** Their float64 references, by the same names. */
export type Expected = Record<string, ArrayLike<number>>;

/**
 * One call's worth of work on tensors that setup() allocated: run() records it and returns its
 * outputs, which are the caller's to drop; want() is their reference, from the inputs as uploaded.
 */
export interface Bench { run(): Outputs; want(): Expected; dispose(): void }

export interface Case {
  kernel: string;
  direction: Direction;
  shape: string;
  bound: Bound;
  flop: number;
  bytes: number;
  setup(): Bench;
  /** The same launcher call on a small instance that runs the same kernel variants: its shape and setup. */
  check: { shape: string; setup(): Bench };
}

type Dims = readonly number[];
type Dims4 = readonly [number, number, number, number];
const numel = (d: Dims) => d.reduce((a, b) => a * b, 1);
const dimsText = (d: Dims) => d.join('x');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const bench = (ts: Tensor[], run: () => Outputs, want: () => Expected): Bench => ({ run, want, dispose: () => ts.forEach((t) => t.dispose()) });

// The model: ShuffleNetV1 2.0x g=3 (Megvii's channels 48 / 480 / 960 / 1920), 224x224 input.
const G = 3;
const CLASSES = 10; // the linear layer and loss as trained here (CIFAR-10)
const SGD_CLASSES = 1000; // the SGD step updates the ImageNet-headed model's 5.45M parameters
const CIFAR_MEAN = [0.4914, 0.4822, 0.4465], CIFAR_STD = [0.247, 0.2435, 0.2616];
// Inputs chosen so every term of the update and the loss gradient shows in the checks (speed does not depend on them).
const SGD_HYPER = { lr: 0.1, momentum: 0.9, weightDecay: 0.01, invScale: 0.5 };
const XENT_DY = 0.5;

/** Every case at batch N with activations of `dtype`. */
export function allCases(N: number, dtype: DType): Case[] {
  const A = dtype === 'f32' ? 4 : 2; // bytes per activation element
  const act = (d: Dims) => A * numel(d), f32 = (d: Dims) => 4 * numel(d);
  const n = Math.min(N, 2); // the checks' batch
  const rng = new Rng(1);
  const rand = (d: Dims, dt: DType = dtype) => upload(uniform(rng, d), d, dt);

  const out: Case[] = [];
  /** The rows of one family: `full` is timed, `small` checked; `shape` names either. */
  const family = <D>(kernel: string, full: D, small: D, shape: (d: D) => string) =>
    (direction: Direction, bound: Bound, flop: number, bytes: number, make: (d: D) => Bench) =>
      out.push({ kernel, direction, shape: shape(full), bound, flop, bytes, setup: () => make(full), check: { shape: shape(small), setup: () => make(small) } });

  // Stem: dense 3x3 stride 2 pad 1, 3 -> 48 at 224 (dgrad exists for the general op; the model never needs
  // it). Checked at 32x32: the variants depend on the channels, the window and the output plane's parity.
  {
    const o = { stride: 2, padding: 1, groups: 1 };
    const at = (b: number, h: number) => ({ x: [b, 3, h, h], w: [48, 3, 3, 3], y: [b, 48, h / 2, h / 2] });
    const { x, w, y } = at(N, 224), flop = 2 * numel(y) * 27;
    const row = family('stem conv', at(N, 224), at(n, 32), (d) => `${dimsText(d.x)} -> 48 k3 s2`);
    row('forward', 'compute', flop, act(x) + f32(w) + act(y), (d) => {
      const xt = rand(d.x), wt = rand(d.w, 'f32');
      return bench([xt, wt], () => ({ y: directForward(xt, wt, o) }), () => ({ y: conv2dRef(vals(xt), d.x, vals(wt), d.w, o) }));
    });
    row('dgrad', 'compute', flop, act(y) + f32(w) + act(x), (d) => {
      const dy = rand(d.y), wt = rand(d.w, 'f32');
      return bench([dy, wt], () => ({ dx: directDgrad(dy, wt, d.x, o) }), () => ({ dx: conv2dBackwardRef(zeros(d.x), d.x, vals(wt), d.w, vals(dy), o).dx }));
    });
    row('wgrad', 'compute', flop, act(x) + act(y) + f32(w), (d) => {
      const xt = rand(d.x), dy = rand(d.y);
      return bench([xt, dy], () => ({ dw: directWgrad(xt, dy, d.w, o) }), () => ({ dw: conv2dBackwardRef(vals(xt), d.x, zeros(d.w), d.w, vals(dy), o).dw }));
    });
  }

  // Pointwise group convs [Cin, Cout, groups, H]: the first unit's 1x1 (groups 1 on the stem's 48
  // channels), then each stage's stride-1 unit, in -> mid and mid -> out. Checked on two images of 24x24
  // (even planes: vector pixels) or 13x13 (odd: scalar pixels, f16 through staging), enough pixels for
  // the timed size's tiles and for wgrad's two passes in either reduction shape (the gpu shape's lanes
  // take 4 pixel vectors or more, so a second chunk needs over 256).
  const POINTWISE = [[48, 120, 1, 56], [480, 120, G, 28], [120, 480, G, 28], [960, 240, G, 14], [240, 960, G, 14], [1920, 480, G, 7], [480, 1920, G, 7]] as const;
  for (const [Cin, Cout, g, H] of POINTWISE) {
    const at = (b: number, h: number) => ({ x: [b, Cin, h, h], y: [b, Cout, h, h], w: [Cout, Cin / g, 1, 1] });
    const { x, y, w } = at(N, H), flop = 2 * numel(y) * (Cin / g);
    const row = family('pointwise conv', at(N, H), at(n, H % 2 ? 13 : 24), (d) => `${dimsText(d.x)} -> ${Cout} g${g}`);
    row('forward', 'compute', flop, act(x) + f32(w) + act(y), (d) => {
      const xt = rand(d.x), wt = rand(d.w, 'f32');
      return bench([xt, wt], () => ({ y: pointwiseForward(xt, wt, g) }), () => ({ y: pointwiseRef(vals(xt), d.x, vals(wt), Cout, g) }));
    });
    row('dgrad', 'compute', flop, act(y) + f32(w) + act(x), (d) => {
      const dy = rand(d.y), wt = rand(d.w, 'f32');
      return bench([dy, wt], () => ({ dx: pointwiseDgrad(dy, wt, g, d.x) }), () => ({ dx: pointwiseBackwardRef(zeros(d.x), d.x, vals(wt), vals(dy), Cout, g).dx }));
    });
    row('wgrad', 'compute', flop, act(x) + act(y) + f32(w), (d) => {
      const xt = rand(d.x), dy = rand(d.y);
      return bench([xt, dy], () => ({ dw: pointwiseWgrad(xt, dy, g) }), () => ({ dw: pointwiseBackwardRef(vals(xt), d.x, zeros(d.w), vals(dy), Cout, g).dw }));
    });
  }

  // Depthwise 3x3 pad 1 [C, H, stride], reading x through the g=3 channel shuffle as the model does.
  // From here on the variants depend on the plane, not the batch: checks take the timed size at batch n.
  const DEPTHWISE = [[120, 56, 2], [120, 28, 1], [240, 28, 2], [240, 14, 1], [480, 14, 2], [480, 7, 1]] as const;
  for (const [C, H, s] of DEPTHWISE) {
    const Ho = Math.ceil(H / s), o = { stride: s, padding: 1, groups: C };
    const at = (b: number) => ({ x: [b, C, H, H], y: [b, C, Ho, Ho], w: [C, 1, 3, 3] });
    const { x, y, w } = at(N), flop = 2 * numel(y) * 9;
    const row = family('depthwise conv', at(N), at(n), (d) => `${dimsText(d.x)} s${s} shuffle g${G}`);
    row('forward', 'memory', flop, act(x) + f32(w) + act(y), (d) => {
      const xt = rand(d.x), wt = rand(d.w, 'f32');
      return bench([xt, wt], () => ({ y: depthwiseForward(xt, wt, s, G) }), () => ({ y: shuffledConv2dRef(vals(xt), d.x, vals(wt), d.w, o, G) }));
    });
    row('dgrad', 'memory', flop, act(y) + f32(w) + act(x), (d) => {
      const dy = rand(d.y), wt = rand(d.w, 'f32');
      return bench([dy, wt], () => ({ dx: depthwiseDgrad(dy, wt, d.x, s, G) }), () => ({ dx: shuffledConv2dBackwardRef(zeros(d.x), d.x, vals(wt), d.w, vals(dy), o, G).dx }));
    });
    row('wgrad', 'memory', flop, act(x) + act(y) + f32(w), (d) => {
      const xt = rand(d.x), dy = rand(d.y);
      return bench([xt, dy], () => ({ dw: depthwiseWgrad(xt, dy, s, G) }), () => ({ dw: shuffledConv2dBackwardRef(vals(xt), d.x, zeros(d.w), d.w, vals(dy), o, G).dw }));
    });
  }

  // Channel shuffle as its own pass (the model fuses it into the depthwise conv): a pure permutation.
  for (const [C, H] of [[120, 56], [480, 7]] as const) {
    const at = (b: number) => [b, C, H, H];
    const row = family('channel shuffle', at(N), at(n), (d) => `${dimsText(d)} g${G}`);
    row('forward', 'memory', 0, 2 * act(at(N)), (d) => {
      const xt = rand(d);
      return bench([xt], () => ({ y: channelShuffleForward(xt, G) }), () => ({ y: channelShuffleRef(vals(xt), d, G) }));
    });
  }

  // Max pool 3x3/2 after the stem; forward also writes the argmax (training). FLOP: 9 per output
  // forward, 4 per input pixel backward (the windows that can contain it).
  {
    const at = (b: number) => ({ x: [b, 48, 112, 112] as Dims4, y: [b, 48, 56, 56] });
    const { x, y } = at(N);
    const row = family('max pool', at(N), at(n), (d) => `${dimsText(d.x)} k3 s2`);
    row('forward', 'memory', 9 * numel(y), act(x) + 2 * act(y), (d) => {
      const xt = rand(d.x);
      return bench([xt], () => ({ y: maxPoolForward(xt, {}, true).y }), () => ({ y: maxPoolRef(vals(xt), d.x).y }));
    });
    row('backward', 'memory', 4 * numel(x), 2 * act(y) + act(x), (d) => {
      const xt = rand(d.x), dy = rand(d.y);
      const { y: yt, arg } = maxPoolForward(xt, {}, true);
      yt.dispose();
      return bench([xt, dy, arg!], () => ({ dx: maxPoolBackward(dy, arg!, d.x) }), () => ({ dx: maxPoolBackwardRef(vals(xt), d.x, vals(dy)) }));
    });
  }

  // Avg pool 3x3/2, the stride-2 units' shortcut. FLOP: 10 per output forward, 8 per input backward.
  for (const [C, H] of [[48, 56], [480, 28], [960, 14]] as const) {
    const at = (b: number) => ({ x: [b, C, H, H] as Dims4, y: [b, C, H / 2, H / 2] });
    const { x, y } = at(N);
    const row = family('avg pool', at(N), at(n), (d) => `${dimsText(d.x)} k3 s2`);
    row('forward', 'memory', 10 * numel(y), act(x) + act(y), (d) => {
      const xt = rand(d.x);
      return bench([xt], () => ({ y: avgPoolForward(xt) }), () => ({ y: avgPoolRef(vals(xt), d.x) }));
    });
    row('backward', 'memory', 8 * numel(x), act(y) + act(x), (d) => {
      const dy = rand(d.y);
      return bench([dy], () => ({ dx: avgPoolBackward(dy, d.x) }), () => ({ dx: avgPoolBackwardRef(vals(dy), d.x) }));
    });
  }

  // Global average pool, the head. FLOP: 1 per input element.
  {
    const at = (b: number) => ({ x: [b, 1920, 7, 7] as Dims4, y: [b, 1920] });
    const { x, y } = at(N);
    const row = family('global avg pool', at(N), at(n), (d) => dimsText(d.x));
    row('forward', 'memory', numel(x), act(x) + act(y), (d) => {
      const xt = rand(d.x);
      return bench([xt], () => ({ y: globalAvgPoolForward(xt) }), () => ({ y: globalAvgPoolRef(vals(xt), d.x) }));
    });
    row('backward', 'memory', numel(x), act(y) + act(x), (d) => {
      const dy = rand(d.y);
      return bench([dy], () => ({ dx: globalAvgPoolBackward(dy, d.x) }), () => ({ dx: globalAvgPoolBackwardRef(vals(dy), d.x) }));
    });
  }

  // Training batch norm [C, H, fused ReLU]: the stem's, a stage-2 output, a stage-3 mid, a stage-4
  // output (7x7: planes not a multiple of 4). Forward = statistics + normalize (and the running
  // statistics' update); backward = dx, dgamma, dbeta. FLOP: 5 per element forward, 8 backward.
  for (const [C, H, relu] of [[48, 112, true], [480, 28, false], [240, 14, true], [1920, 7, false]] as const) {
    const at = (b: number) => [b, C, H, H];
    const x = at(N), o = { training: true, momentum: 0.1, eps: 1e-5, relu };
    const row = family(relu ? 'batch norm+relu' : 'batch norm', x, at(n), dimsText);
    const params = () => [rand([C], 'f32'), rand([C], 'f32'), upload(new Float32Array(C), [C], 'f32'), upload(new Float32Array(C).fill(1), [C], 'f32')] as const;
    row('forward', 'memory', 5 * numel(x), 3 * act(x), (d) => {
      const xt = rand(d), [gamma, beta, rm, rv] = params();
      return bench([xt, gamma, beta, rm, rv], () => {
        const stats = batchNormStats(xt, rm, rv, o.momentum, o.eps);
        return { y: batchNormNormalize(xt, stats, gamma, beta, relu), runningMean: rm, runningVar: rv };
      }, () => {
        const r = batchNormRef(vals(xt), d, vals(gamma), vals(beta), vals(rm), vals(rv), o);
        return { y: r.y, runningMean: r.runningMean, runningVar: r.runningVar };
      });
    });
    row('backward', 'memory', 8 * numel(x), 5 * act(x), (d) => {
      const xt = rand(d), dy = rand(d), [gamma, beta, rm, rv] = params();
      const stats = batchNormStats(xt, rm, rv, o.momentum, o.eps);
      return bench([xt, dy, gamma, beta, rm, rv, stats], () => {
        const r = batchNormBackward(dy, xt, stats, gamma, beta, { training: true, relu });
        return { dx: r.dx!, dgamma: r.dgamma, dbeta: r.dbeta };
      }, () => batchNormBackwardRef(vals(xt), d, vals(gamma), vals(beta), vals(rm), vals(rv), vals(dy), o));
    });
  }

  // The stride-1 unit's residual join relu(x + main), and its backward dy·[y > 0]. FLOP: 2 / 1 per element.
  for (const [C, H] of [[480, 28], [960, 14], [1920, 7]] as const) {
    const at = (b: number) => [b, C, H, H];
    const x = at(N);
    const row = family('add+relu', x, at(n), dimsText);
    row('forward', 'memory', 2 * numel(x), 3 * act(x), (d) => {
      const a = rand(d), b = rand(d);
      return bench([a, b], () => ({ y: addReluForward(a, b) }), () => ({ y: addReluRef(vals(a), vals(b)) }));
    });
    row('backward', 'memory', numel(x), 3 * act(x), (d) => {
      const y = rand(d), dy = rand(d);
      return bench([y, dy], () => ({ dx: reluBackward(y, dy) }), () => ({ dx: reluBackwardRef(vals(y), vals(dy)) }));
    });
  }

  // The stride-1 unit's tail as the model runs it: its last BN with the residual add and ReLU in the same
  // pass, relu(bn(x) + r) (the rows above are that join on its own, as folded inference runs it).
  for (const [C, H] of [[480, 28], [960, 14], [1920, 7]] as const) {
    const at = (b: number) => [b, C, H, H];
    const x = at(N), o = { training: true, momentum: 0.1, eps: 1e-5, relu: true };
    const row = family('bn+add+relu', x, at(n), dimsText);
    const params = () => [rand([C], 'f32'), rand([C], 'f32'), upload(new Float32Array(C), [C], 'f32'), upload(new Float32Array(C).fill(1), [C], 'f32')] as const;
    row('forward', 'memory', 7 * numel(x), 4 * act(x), (d) => {
      const xt = rand(d), residual = rand(d), [gamma, beta, rm, rv] = params();
      return bench([xt, residual, gamma, beta, rm, rv], () => {
        const stats = batchNormStats(xt, rm, rv, o.momentum, o.eps);
        return { y: batchNormNormalize(xt, stats, gamma, beta, true, { residual }), runningMean: rm, runningVar: rv };
      }, () => {
        const r = batchNormRef(vals(xt), d, vals(gamma), vals(beta), vals(rm), vals(rv), { ...o, residual: vals(residual) });
        return { y: r.y, runningMean: r.runningMean, runningVar: r.runningVar };
      });
    });
    // backward: dy' = dy·[y > 0] from the output (elementwise), then the plain BN backward; dr = dy'
    row('backward', 'memory', 9 * numel(x), 8 * act(x), (d) => {
      const xt = rand(d), dy = rand(d), residual = rand(d), [gamma, beta, rm, rv] = params();
      const stats = batchNormStats(xt, rm, rv, o.momentum, o.eps);
      const y = batchNormNormalize(xt, stats, gamma, beta, true, { residual });
      return bench([xt, dy, residual, gamma, beta, rm, rv, stats, y], () => {
        const dr = reluBackward(y, dy);
        const r = batchNormBackward(dr, xt, stats, gamma, beta, { training: true, relu: false });
        return { dx: r.dx!, dgamma: r.dgamma, dbeta: r.dbeta, dresidual: dr };
      }, () => batchNormBackwardRef(vals(xt), d, vals(gamma), vals(beta), vals(rm), vals(rv), vals(dy), { ...o, residual: vals(residual) }));
    });
  }

  // The stride-2 unit's join relu(concat(avgpool(x), main)) [Ca, Cb, H]; backward = both masked slices.
  // FLOP: 1 per output element (the ReLU).
  for (const [Ca, Cb, H] of [[48, 432, 28], [480, 480, 14], [960, 960, 7]] as const) {
    const at = (b: number) => ({ a: [b, Ca, H, H] as Dims4, b: [b, Cb, H, H], y: [b, Ca + Cb, H, H] });
    const { y } = at(N);
    const row = family('concat+relu', at(N), at(n), (d) => `${dimsText(d.a)} ++ ${Cb}`);
    row('forward', 'memory', numel(y), 2 * act(y), (d) => {
      const ta = rand(d.a), tb = rand(d.b);
      return bench([ta, tb], () => ({ y: concatForward(ta, tb, true) }), () => ({ y: concatRef(vals(ta), vals(tb), d.a, Cb, true) }));
    });
    row('backward', 'memory', numel(y), 3 * act(y), (d) => {
      const yt = rand(d.y), dy = rand(d.y);
      return bench([yt, dy], () => ({ da: concatBackward(dy, 0, Ca, yt), db: concatBackward(dy, Ca, Cb, yt) }),
        () => concatBackwardRef(vals(dy), d.a, Cb, vals(yt)));
    });
  }

  // The classifier, linear 1920 -> 10 with bias (PyTorch layout w [out, in]); wgrad includes db (the
  // column sums). Checked at the timed size: it is small, and the matmul's tile depends on the batch.
  {
    const at = (b: number) => ({ x: [b, 1920], w: [CLASSES, 1920], y: [b, CLASSES] });
    const { x, w, y } = at(N), flop = 2 * N * 1920 * CLASSES;
    const row = family('linear', at(N), at(N), (d) => `${dimsText(d.x)} -> ${CLASSES}`);
    row('forward', 'compute', flop, act(x) + f32(w) + 4 * CLASSES + act(y), (d) => {
      const xt = rand(d.x), wt = rand(d.w, 'f32'), bt = rand([CLASSES], 'f32');
      return bench([xt, wt, bt], () => ({ y: matmulForward(xt, wt, { transB: true, bias: bt }) }), () => ({ y: linearRef(vals(xt), vals(wt), vals(bt), d.x[0]!, 1920, CLASSES) }));
    });
    row('dgrad', 'compute', flop, act(y) + f32(w) + act(x), (d) => {
      const dy = rand(d.y), wt = rand(d.w, 'f32');
      return bench([dy, wt], () => ({ dx: matmulForward(dy, wt, { dtype }) }), () => ({ dx: linearBackwardRef(zeros(d.x), vals(wt), vals(dy), d.x[0]!, 1920, CLASSES).dx }));
    });
    row('wgrad', 'compute', flop + N * CLASSES, act(y) + act(x) + f32(w) + 4 * CLASSES, (d) => {
      const dy = rand(d.y), xt = rand(d.x);
      return bench([dy, xt], () => ({ dw: matmulForward(dy, xt, { transA: true, dtype: 'f32' }), db: sumColumns(dy) }), () => {
        const r = linearBackwardRef(vals(xt), zeros(d.w), vals(dy), d.x[0]!, 1920, CLASSES);
        return { dw: r.dw, db: r.db };
      });
    });
  }

  // Softmax cross-entropy with label smoothing: forward writes the loss and the logits' gradient in one
  // pass (as in training); backward scales that gradient by dy. FLOP: 5 / 1 per logit. Checked at the timed size.
  {
    const z = [N, CLASSES];
    const row = family('softmax xent', z, z, dimsText);
    row('forward', 'memory', 5 * numel(z), act(z) + 4 * N + 4 * N + 4 + f32(z), (d) => {
      const zt = rand(d), labels = upload(Float32Array.from(range(d[0]!), (i) => i % CLASSES), [d[0]!], 'f32');
      return bench([zt, labels], () => {
        const r = softmaxCrossEntropyForward(zt, labels, 0.1, true);
        return { loss: r.loss, losses: r.losses, dlogits: r.dlogits! };
      }, () => {
        const r = softmaxXentRef(vals(zt), d[0]!, CLASSES, vals(labels), 0.1);
        return { loss: [r.loss], losses: r.losses, dlogits: r.dlogits };
      });
    });
    row('backward', 'memory', numel(z), f32(z) + 4 + act(z), (d) => {
      const dlogits = rand(d, 'f32'), dy = upload(Float32Array.of(XENT_DY), [1], 'f32');
      return bench([dlogits, dy], () => ({ dz: softmaxCrossEntropyBackward(dlogits, dy, dtype) }), () => ({ dz: scaleRef(vals(dlogits), XENT_DY) }));
    });
  }

  // SGD with momentum and weight decay over every parameter (largest first, as the optimizer (train/sgd.ts)
  // orders them): reads w, g, v and writes w, v. FLOP: 6 per parameter. Checked on the same list of
  // tensors cut to at most 64 elements (plus n mod 4: the vec4 tail), so the dispatches group alike.
  {
    const rows = summary({ size: '2.0x', group: 3, classes: SGD_CLASSES }).rows;
    // conv weights decay; BN gamma and beta do not; the dense layer's weight does, its bias does not
    const params = rows.flatMap((r) =>
      r.kind.startsWith('bn') ? [{ n: r.params / 2, decay: false }, { n: r.params / 2, decay: false }]
      : r.kind === 'dense' ? [{ n: r.params - SGD_CLASSES, decay: true }, { n: SGD_CLASSES, decay: false }]
      : r.params ? [{ n: r.params, decay: true }] : []).sort((a, b) => b.n - a.n);
    const small = params.map(({ n, decay }) => ({ n: n > 64 ? 64 + (n % 4) : n, decay }));
    const total = params.reduce((a, p) => a + p.n, 0);
    const row = family('sgd momentum', params, small, (d) => `${d.length} tensors, ${(d.reduce((a, p) => a + p.n, 0) / 1e6).toFixed(2)}M params`);
    row('step', 'memory', 6 * total, 5 * 4 * total, (d) => {
      const items: SgdItem[] = d.map(({ n, decay }) => ({ w: rand([n], 'f32'), g: rand([n], 'f32'), v: rand([n], 'f32'), decay }));
      const h = SGD_HYPER, hyper = upload(Float32Array.of(h.lr, h.momentum, h.weightDecay, h.invScale), [4], 'f32');
      return bench([...items.flatMap((it) => [it.w, it.g, it.v]), hyper], () => {
        sgdUpdate(items, hyper);
        return Object.fromEntries(items.flatMap((it, i) => [[`w[${i}]`, it.w], [`v[${i}]`, it.v]]));
      }, () => Object.fromEntries(items.flatMap((it, i) => {
        const w = vals(it.w), v = vals(it.v);
        sgdRef(w, v, vals(it.g), h, it.decay);
        return [[`w[${i}]`, w], [`v[${i}]`, v]];
      })));
    });
  }

  // GPU augmentation of a CIFAR batch (uint8 32x32) to the 224x224 input: random crop (pad 4), flip,
  // bilinear resize, normalize. FLOP: 8 per output element.
  {
    const o = { H: 32, W: 32, pad: 4, crop: 32, size: 224, flip: true };
    const y = [N, 3, 224, 224], srcBytes = N * 3 * 32 * 32;
    const row = family('augment', N, n, (b) => `${b}x3x32x32 u8 -> 224`);
    row('forward', 'memory', 8 * numel(y), srcBytes + 4 * N * PARAMS + act(y), (b) => {
      const img = Uint8Array.from({ length: b * 3 * 32 * 32 }, () => rng.int(256)), crops = randomCrops(rng, b, o);
      const src = uploadBytes(img), params = upload(Float32Array.from(crops.flatMap((c) => imageParams(o.pad, o.crop, o.crop, o.size, c))), [b, PARAMS], 'f32');
      return bench([src, params], () => ({ y: augmentForward(src, { N: b, C: 3, H: 32, W: 32 }, params, { size: 224, dtype }, CIFAR_MEAN, CIFAR_STD) }),
        () => ({ y: augmentRef(img, [b, 3, 32, 32], crops, { pad: o.pad, Kh: o.crop, Kw: o.crop, size: o.size, mean: CIFAR_MEAN, std: CIFAR_STD }) }));
    });
  }
  return out;
}

/** Bytes of the largest activation at batch N (the stem's output, 48x112x112), for an early binding check. */
export const largestActivation = (N: number, dtype: DType) => N * 48 * 112 * 112 * (dtype === 'f32' ? 4 : 2);
