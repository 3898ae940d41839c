// The kernel benchmark's cases: every kernel ShuffleNetV1 2.0x g=3 runs at 224x224, at the model's real
// layer sizes, per direction, through each kernel's raw launcher (no checks, no tape).
// Counting conventions (the FLOP and byte counts each row assumes):
//   FLOP = 2·MACs for convolutions and the linear layer; for the other kernels a nominal count of
//     arithmetic per element (noted per family below), informational only: those are memory-bound.
//   bytes = compulsory traffic: every input read once, every output written once (activations in the
//     bench's dtype, weights and their gradients f32), except where the algorithm must read a tensor
//     twice: training batch norm reads x (and dy) once for the statistics and once more for the output.
//     Scratch a kernel writes and rereads (partial sums, the transposed weights of pointwise dgrad,
//     augment's column pass) is not counted: it is the implementation's cost, not the op's.
import { Rng, Tensor, device, type DType } from '../../engine/index.ts';
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
import { trainTransforms } from '../../train/data/transforms.ts';
import { summary } from '../../model/summary.ts';

export type Direction = 'forward' | 'dgrad' | 'wgrad' | 'backward' | 'step';
/** Which ceiling a row is compared with: FMA throughput or copy bandwidth. */
export type Bound = 'compute' | 'memory';

/** One call's worth of work on tensors that setup() allocated: run() records it, outputs are the caller's to drop. */
export interface Bench { run(): void; dispose(): void }

export interface Case {
  kernel: string;
  direction: Direction;
  shape: string;
  bound: Bound;
  flop: number;
  bytes: number;
  setup(): Bench;
}

type Dims = readonly number[];
const numel = (d: Dims) => d.reduce((a, b) => a * b, 1);
const dimsText = (d: Dims) => d.join('x');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// The model: ShuffleNetV1 2.0x g=3 (Megvii's channels 48 / 480 / 960 / 1920), 224x224 input.
const G = 3;
const CLASSES = 10; // the linear layer and loss as trained here (CIFAR-10)
const SGD_CLASSES = 1000; // the SGD step updates the ImageNet-headed model's 5.45M parameters
const CIFAR_MEAN = [0.4914, 0.4822, 0.4465], CIFAR_STD = [0.247, 0.2435, 0.2616];

/** Every case at batch N with activations of `dtype`. */
export function allCases(N: number, dtype: DType): Case[] {
  const A = dtype === 'f32' ? 4 : 2; // bytes per activation element
  const act = (d: Dims) => A * numel(d), f32 = (d: Dims) => 4 * numel(d);
  const rng = new Rng(1);
  // uniform in [-1, 1): realistic signs for ReLU masks and max-pool winners, no denormals
  const rand = (d: Dims, dt: DType = dtype) => {
    const bytes = numel(d) * (dt === 'f32' ? 4 : 2), limit = device().limits.maxStorageBufferBindingSize;
    if (bytes > limit) throw new Error(`a ${dimsText(d)} ${dt} tensor is ${(bytes / 2 ** 20).toFixed(0)} MiB, over this adapter's ${limit / 2 ** 20} MiB binding limit: use a smaller --batch`);
    return Tensor.from(Float32Array.from({ length: numel(d) }, () => 2 * rng.next() - 1), d, dt);
  };
  const owning = (ts: Tensor[], run: () => void): Bench => ({ run, dispose: () => ts.forEach((t) => t.dispose()) });

  const out: Case[] = [];
  const add = (kernel: string, direction: Direction, shape: string, bound: Bound, flop: number, bytes: number, setup: () => Bench) =>
    out.push({ kernel, direction, shape, bound, flop, bytes, setup });

  // Stem: dense 3x3 stride 2 pad 1, 3 -> 48 at 224 (dgrad exists for the general op; the model never needs it).
  {
    const x = [N, 3, 224, 224], w = [48, 3, 3, 3], y = [N, 48, 112, 112], o = { stride: 2, padding: 1, groups: 1 };
    const flop = 2 * numel(y) * 27, shape = `${dimsText(x)} -> 48 k3 s2`;
    add('stem conv', 'forward', shape, 'compute', flop, act(x) + f32(w) + act(y), () => {
      const xt = rand(x), wt = rand(w, 'f32');
      return owning([xt, wt], () => directForward(xt, wt, o));
    });
    add('stem conv', 'dgrad', shape, 'compute', flop, act(y) + f32(w) + act(x), () => {
      const dy = rand(y), wt = rand(w, 'f32');
      return owning([dy, wt], () => directDgrad(dy, wt, x, o));
    });
    add('stem conv', 'wgrad', shape, 'compute', flop, act(x) + act(y) + f32(w), () => {
      const xt = rand(x), dy = rand(y);
      return owning([xt, dy], () => directWgrad(xt, dy, w, o));
    });
  }

  // Pointwise group convs [Cin, Cout, groups, H]: the first unit's 1x1 (groups 1 on the stem's 48
  // channels), then each stage's stride-1 unit, in -> mid and mid -> out.
  const POINTWISE = [[48, 120, 1, 56], [480, 120, G, 28], [120, 480, G, 28], [960, 240, G, 14], [240, 960, G, 14], [1920, 480, G, 7], [480, 1920, G, 7]] as const;
  for (const [Cin, Cout, g, H] of POINTWISE) {
    const x = [N, Cin, H, H], y = [N, Cout, H, H], w = [Cout, Cin / g, 1, 1];
    const flop = 2 * numel(y) * (Cin / g), shape = `${dimsText(x)} -> ${Cout} g${g}`;
    add('pointwise conv', 'forward', shape, 'compute', flop, act(x) + f32(w) + act(y), () => {
      const xt = rand(x), wt = rand(w, 'f32');
      return owning([xt, wt], () => pointwiseForward(xt, wt, g));
    });
    add('pointwise conv', 'dgrad', shape, 'compute', flop, act(y) + f32(w) + act(x), () => {
      const dy = rand(y), wt = rand(w, 'f32');
      return owning([dy, wt], () => pointwiseDgrad(dy, wt, g, x));
    });
    add('pointwise conv', 'wgrad', shape, 'compute', flop, act(x) + act(y) + f32(w), () => {
      const xt = rand(x), dy = rand(y);
      return owning([xt, dy], () => pointwiseWgrad(xt, dy, g));
    });
  }

  // Depthwise 3x3 pad 1 [C, H, stride], reading x through the g=3 channel shuffle as the model does.
  const DEPTHWISE = [[120, 56, 2], [120, 28, 1], [240, 28, 2], [240, 14, 1], [480, 14, 2], [480, 7, 1]] as const;
  for (const [C, H, s] of DEPTHWISE) {
    const Ho = Math.ceil(H / s), x = [N, C, H, H], y = [N, C, Ho, Ho], w = [C, 1, 3, 3];
    const flop = 2 * numel(y) * 9, shape = `${dimsText(x)} s${s} shuffle g${G}`;
    add('depthwise conv', 'forward', shape, 'memory', flop, act(x) + f32(w) + act(y), () => {
      const xt = rand(x), wt = rand(w, 'f32');
      return owning([xt, wt], () => depthwiseForward(xt, wt, s, G));
    });
    add('depthwise conv', 'dgrad', shape, 'memory', flop, act(y) + f32(w) + act(x), () => {
      const dy = rand(y), wt = rand(w, 'f32');
      return owning([dy, wt], () => depthwiseDgrad(dy, wt, x, s, G));
    });
    add('depthwise conv', 'wgrad', shape, 'memory', flop, act(x) + act(y) + f32(w), () => {
      const xt = rand(x), dy = rand(y);
      return owning([xt, dy], () => depthwiseWgrad(xt, dy, s, G));
    });
  }

  // Channel shuffle as its own pass (the model fuses it into the depthwise conv): a pure permutation.
  for (const [C, H] of [[120, 56], [480, 7]] as const) {
    const x = [N, C, H, H];
    add('channel shuffle', 'forward', `${dimsText(x)} g${G}`, 'memory', 0, 2 * act(x), () => {
      const xt = rand(x);
      return owning([xt], () => channelShuffleForward(xt, G));
    });
  }

  // Max pool 3x3/2 after the stem; forward also writes the argmax (training). FLOP: 9 per output
  // forward, 4 per input pixel backward (the windows that can contain it).
  {
    const x = [N, 48, 112, 112], y = [N, 48, 56, 56], shape = `${dimsText(x)} k3 s2`;
    add('max pool', 'forward', shape, 'memory', 9 * numel(y), act(x) + 2 * act(y), () => {
      const xt = rand(x);
      return owning([xt], () => maxPoolForward(xt, {}, true));
    });
    add('max pool', 'backward', shape, 'memory', 4 * numel(x), 2 * act(y) + act(x), () => {
      const xt = rand(x), dy = rand(y);
      const { y: yt, arg } = maxPoolForward(xt, {}, true);
      yt.dispose(); xt.dispose();
      return owning([dy, arg!], () => maxPoolBackward(dy, arg!, x));
    });
  }

  // Avg pool 3x3/2, the stride-2 units' shortcut. FLOP: 10 per output forward, 8 per input backward.
  for (const [C, H] of [[48, 56], [480, 28], [960, 14]] as const) {
    const x = [N, C, H, H], y = [N, C, H / 2, H / 2], shape = `${dimsText(x)} k3 s2`;
    add('avg pool', 'forward', shape, 'memory', 10 * numel(y), act(x) + act(y), () => {
      const xt = rand(x);
      return owning([xt], () => avgPoolForward(xt));
    });
    add('avg pool', 'backward', shape, 'memory', 8 * numel(x), act(y) + act(x), () => {
      const dy = rand(y);
      return owning([dy], () => avgPoolBackward(dy, x));
    });
  }

  // Global average pool, the head. FLOP: 1 per input element.
  {
    const x = [N, 1920, 7, 7], y = [N, 1920], shape = dimsText(x);
    add('global avg pool', 'forward', shape, 'memory', numel(x), act(x) + act(y), () => {
      const xt = rand(x);
      return owning([xt], () => globalAvgPoolForward(xt));
    });
    add('global avg pool', 'backward', shape, 'memory', numel(x), act(y) + act(x), () => {
      const dy = rand(y);
      return owning([dy], () => globalAvgPoolBackward(dy, x));
    });
  }

  // Training batch norm [C, H, fused ReLU]: the stem's, a stage-2 output, a stage-3 mid, a stage-4
  // output (7x7: planes not a multiple of 4). Forward = statistics + normalize; backward = dx, dgamma,
  // dbeta. FLOP: 5 per element forward, 8 backward.
  for (const [C, H, relu] of [[48, 112, true], [480, 28, false], [240, 14, true], [1920, 7, false]] as const) {
    const x = [N, C, H, H], shape = dimsText(x), kernel = relu ? 'batch norm+relu' : 'batch norm';
    const params = () => [rand([C], 'f32'), rand([C], 'f32'), Tensor.zeros([C], 'f32'), Tensor.full([C], 1, 'f32')];
    add(kernel, 'forward', shape, 'memory', 5 * numel(x), 3 * act(x), () => {
      const xt = rand(x), [gamma, beta, rm, rv] = params() as [Tensor, Tensor, Tensor, Tensor];
      return owning([xt, gamma, beta, rm, rv], () => {
        const stats = batchNormStats(xt, rm, rv, 0.1, 1e-5);
        batchNormNormalize(xt, stats, gamma, beta, relu);
      });
    });
    add(kernel, 'backward', shape, 'memory', 8 * numel(x), 5 * act(x), () => {
      const xt = rand(x), dy = rand(x), [gamma, beta, rm, rv] = params() as [Tensor, Tensor, Tensor, Tensor];
      const stats = batchNormStats(xt, rm, rv, 0.1, 1e-5);
      return owning([xt, dy, gamma, beta, rm, rv, stats], () => batchNormBackward(dy, xt, stats, gamma, beta, { training: true, relu }));
    });
  }

  // The stride-1 unit's residual join relu(x + main), and its backward dy·[y > 0]. FLOP: 2 / 1 per element.
  for (const [C, H] of [[480, 28], [960, 14], [1920, 7]] as const) {
    const x = [N, C, H, H], shape = dimsText(x);
    add('add+relu', 'forward', shape, 'memory', 2 * numel(x), 3 * act(x), () => {
      const a = rand(x), b = rand(x);
      return owning([a, b], () => addReluForward(a, b));
    });
    add('add+relu', 'backward', shape, 'memory', numel(x), 3 * act(x), () => {
      const y = rand(x), dy = rand(x);
      return owning([y, dy], () => reluBackward(y, dy));
    });
  }

  // The stride-2 unit's join relu(concat(avgpool(x), main)) [Ca, Cb, H]; backward = both masked slices.
  // FLOP: 1 per output element (the ReLU).
  for (const [Ca, Cb, H] of [[48, 432, 28], [480, 480, 14], [960, 960, 7]] as const) {
    const a = [N, Ca, H, H], b = [N, Cb, H, H], y = [N, Ca + Cb, H, H], shape = `${dimsText(a)} ++ ${Cb}`;
    add('concat+relu', 'forward', shape, 'memory', numel(y), 2 * act(y), () => {
      const at = rand(a), bt = rand(b);
      return owning([at, bt], () => concatForward(at, bt, true));
    });
    add('concat+relu', 'backward', shape, 'memory', numel(y), 3 * act(y), () => {
      const yt = rand(y), dy = rand(y);
      return owning([yt, dy], () => { concatBackward(dy, 0, Ca, yt); concatBackward(dy, Ca, Cb, yt); });
    });
  }

  // The classifier, linear 1920 -> 10 with bias (PyTorch layout w [out, in]); wgrad includes db.
  {
    const x = [N, 1920], w = [CLASSES, 1920], y = [N, CLASSES];
    const flop = 2 * N * 1920 * CLASSES, shape = `${dimsText(x)} -> ${CLASSES}`;
    add('linear', 'forward', shape, 'compute', flop, act(x) + f32(w) + 4 * CLASSES + act(y), () => {
      const xt = rand(x), wt = rand(w, 'f32'), bt = rand([CLASSES], 'f32');
      return owning([xt, wt, bt], () => matmulForward(xt, wt, { transB: true, bias: bt }));
    });
    add('linear', 'dgrad', shape, 'compute', flop, act(y) + f32(w) + act(x), () => {
      const dy = rand(y), wt = rand(w, 'f32');
      return owning([dy, wt], () => matmulForward(dy, wt, { dtype }));
    });
    add('linear', 'wgrad', shape, 'compute', flop + N * CLASSES, act(y) + act(x) + f32(w) + 4 * CLASSES, () => {
      const dy = rand(y), xt = rand(x);
      return owning([dy, xt], () => { matmulForward(dy, xt, { transA: true, dtype: 'f32' }); sumColumns(dy); });
    });
  }

  // Softmax cross-entropy with label smoothing: forward writes the loss and the logits' gradient in one
  // pass (as in training); backward scales that gradient by dy. FLOP: 5 / 1 per logit.
  {
    const z = [N, CLASSES], shape = dimsText(z);
    add('softmax xent', 'forward', shape, 'memory', 5 * numel(z), act(z) + 4 * N + 4 * N + 4 + f32(z), () => {
      const zt = rand(z), labels = Tensor.from(range(N).map((i) => i % CLASSES), [N], 'f32');
      return owning([zt, labels], () => softmaxCrossEntropyForward(zt, labels, 0.1, true));
    });
    add('softmax xent', 'backward', shape, 'memory', numel(z), f32(z) + 4 + act(z), () => {
      const dlogits = rand(z, 'f32'), dy = Tensor.from([1], [1], 'f32');
      return owning([dlogits, dy], () => softmaxCrossEntropyBackward(dlogits, dy, dtype));
    });
  }

  // SGD with momentum and weight decay over every parameter (largest first, as the optimizer (train/sgd.ts) orders them):
  // reads w, g, v and writes w, v. FLOP: 6 per parameter.
  {
    const rows = summary({ size: '2.0x', group: 3, classes: SGD_CLASSES }).rows;
    // conv weights decay; BN gamma and beta do not; the dense layer's weight does, its bias does not
    const params = rows.flatMap((r) =>
      r.kind.startsWith('bn') ? [{ n: r.params / 2, decay: false }, { n: r.params / 2, decay: false }]
      : r.kind === 'dense' ? [{ n: r.params - SGD_CLASSES, decay: true }, { n: SGD_CLASSES, decay: false }]
      : r.params ? [{ n: r.params, decay: true }] : []).sort((a, b) => b.n - a.n);
    const total = params.reduce((a, p) => a + p.n, 0);
    add('sgd momentum', 'step', `${params.length} tensors, ${(total / 1e6).toFixed(2)}M params`, 'memory', 6 * total, 5 * 4 * total, () => {
      const items: SgdItem[] = params.map(({ n, decay }) => ({ w: rand([n], 'f32'), g: rand([n], 'f32'), v: Tensor.zeros([n], 'f32'), decay }));
      const hyper = Tensor.from([0.01, 0.9, 4e-5, 1], [4], 'f32');
      return owning([...items.flatMap((it) => [it.w, it.g, it.v]), hyper], () => sgdUpdate(items, hyper));
    });
  }

  // GPU augmentation of a CIFAR batch (uint8 32x32) to the 224x224 input: random crop (pad 4), flip,
  // bilinear resize, normalize. FLOP: 8 per output element.
  {
    const y = [N, 3, 224, 224], srcBytes = N * 3 * 32 * 32;
    add('augment', 'forward', `${N}x3x32x32 u8 -> 224`, 'memory', 8 * numel(y), srcBytes + 4 * N * PARAMS + act(y), () => {
      const src = uploadBytes(Uint8Array.from({ length: srcBytes }, () => rng.int(256)));
      const params = Tensor.from(trainTransforms(rng, N, { H: 32, W: 32, pad: 4, crop: 32, size: 224, flip: true }), [N, PARAMS], 'f32');
      return owning([src, params], () => augmentForward(src, { N, C: 3, H: 32, W: 32 }, params, { size: 224, dtype }, CIFAR_MEAN, CIFAR_STD));
    });
  }
  return out;
}

/** Bytes of the largest activation at batch N (the stem's output, 48x112x112), for an early binding check. */
export const largestActivation = (N: number, dtype: DType) => N * 48 * 112 * 112 * (dtype === 'f32' ? 4 : 2);
