// The conv2d op: PyTorch's Conv2d(bias=False) on NCHW, with optional channel shuffle of the input.
//   y[n, co, oh, ow] = Σ_{ci < Cin/G, kh, kw} x'[n, g·Cin/G + ci, oh·s − p + kh, ow·s − p + kw] · w[co, ci, kh, kw]
//   g = ⌊co / (Cout/G)⌋, x' = x, or channelShuffle(x, shuffleGroups) (kernels/channel_shuffle.ts) when given.
// x, y f32 or f16 (y has x's dtype); w [Cout, Cin/G, KH, KW] and dw are f32.
// This file checks the arguments and picks a kernel family; the kernels live beside it:
//   1x1, stride 1, pad 0           -> conv2d_pointwise.ts (a register-tiled GEMM per group)
//   3x3 depthwise (G = Cin = Cout), pad 1, stride 1|2 -> conv2d_depthwise.ts (shuffle fused into its indexing)
//   anything else (the stem)       -> conv2d_direct.ts
// Backward is one rule for all: the chosen family's dgrad (only if x needs a gradient) and wgrad. A
// shuffle the family cannot fuse is applied to a copy of x before the conv, and dgrad's result is
// unshuffled (the shuffle with C/shuffleGroups groups, its inverse).
import { Tensor, defineOp, fmt, type Expect, type Shape } from '../engine/index.ts';
import { channelShuffleForward } from './channel_shuffle.ts';
import { depthwiseForward, depthwiseDgrad, depthwiseWgrad } from './conv2d_depthwise.ts';
import { pointwiseForward, pointwiseDgrad, pointwiseWgrad } from './conv2d_pointwise.ts';
import { directForward, directDgrad, directWgrad, type DirectOptions } from './conv2d_direct.ts';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  groups?: number;
  /** Read x through a channel shuffle with this many groups (fused where the kernel supports it). */
  shuffleGroups?: number;
}

export type Conv2dVariant = 'pointwise' | 'depthwise' | 'direct';

interface Resolved extends DirectOptions { shuffleGroups: number }

const resolve = (o: Conv2dOptions): Resolved => ({ stride: o.stride ?? 1, padding: o.padding ?? 0, groups: o.groups ?? 1, shuffleGroups: o.shuffleGroups ?? 1 });

/** The kernel family conv2d uses for these shapes and options. */
export function conv2dVariant(xShape: Shape, wShape: Shape, opts: Conv2dOptions = {}): Conv2dVariant {
  const o = resolve(opts);
  const [, Cin] = xShape;
  const [Cout, , KH, KW] = wShape;
  if (KH === 1 && KW === 1 && o.stride === 1 && o.padding === 0) return 'pointwise';
  if (KH === 3 && KW === 3 && o.groups === Cin && Cout === Cin && o.padding === 1 && (o.stride === 1 || o.stride === 2)) return 'depthwise';
  return 'direct';
}

function check(e: Expect, x: Tensor, w: Tensor, opts: Conv2dOptions = {}): void {
  const o = resolve(opts);
  const both = `x is ${fmt(x.shape)}, w is ${fmt(w.shape)}`;
  e.rank('x', x, 4);
  e.rank('w', w, 4);
  e.dtype('x', x, 'f32', 'f16');
  e.dtype('w', w, 'f32');
  if (!(Number.isInteger(o.stride) && o.stride > 0)) e.fail(`stride must be a positive integer, got ${o.stride}`);
  if (!(Number.isInteger(o.padding) && o.padding >= 0)) e.fail(`padding must be a non-negative integer, got ${o.padding}`);
  if (!(Number.isInteger(o.groups) && o.groups > 0)) e.fail(`groups must be a positive integer, got ${o.groups}`);
  const [, Cin, H, W] = x.shape;
  const [Cout, , KH, KW] = w.shape;
  if (Cin % o.groups) e.fail(`Cin=${Cin} is not divisible by groups=${o.groups} (${both})`);
  if (Cout % o.groups) e.fail(`Cout=${Cout} is not divisible by groups=${o.groups} (${both})`);
  e.shape('w', w, [Cout, Cin / o.groups, null, null], ['x', x]);
  if (KH < 1 || KW < 1) e.fail(`kernel must be at least 1x1 (${both})`);
  const Ho = Math.floor((H + 2 * o.padding - KH) / o.stride) + 1, Wo = Math.floor((W + 2 * o.padding - KW) / o.stride) + 1;
  if (!(Ho > 0 && Wo > 0)) e.fail(`output would be ${Ho}x${Wo}: kernel ${KH}x${KW} with padding ${o.padding} does not fit (${both})`);
  if (!(Number.isInteger(o.shuffleGroups) && o.shuffleGroups > 0 && Cin % o.shuffleGroups === 0)) {
    e.fail(`shuffleGroups=${o.shuffleGroups} must be a positive integer dividing Cin=${Cin} (${both})`);
  }
}

type Saved = { x: Tensor; w: Tensor; o: Resolved; variant: Conv2dVariant; xShape: Shape; unshuffle: number };

/** y = conv2d(x, w) with PyTorch's Conv2d semantics (no bias); see the file header for the kernels used. */
export const conv2d = defineOp('conv2d', {
  check,
  forward: (x: Tensor, w: Tensor, opts: Conv2dOptions = {}): { y: Tensor; saved: Saved } => {
    const o = resolve(opts);
    const variant = conv2dVariant(x.shape, w.shape, o);
    const G = o.shuffleGroups;
    if (variant === 'depthwise') {
      const stride = o.stride as 1 | 2;
      return { y: depthwiseForward(x, w, stride, G), saved: { x, w, o, variant, xShape: x.shape, unshuffle: 0 } };
    }
    // the pointwise and direct kernels do not fuse the shuffle: convolve a shuffled copy, which wgrad then needs
    const xs = G > 1 ? channelShuffleForward(x, G) : x;
    const y = variant === 'pointwise' ? pointwiseForward(xs, w, o.groups) : directForward(xs, w, o);
    return { y, saved: { x: xs, w, o, variant, xShape: x.shape, unshuffle: G > 1 ? x.shape[1] / G : 0 } };
  },
  backward: (dy, { x, w, o, variant, xShape, unshuffle }, needs) => {
    let dx: Tensor | null = null;
    if (needs[0]) {
      if (variant === 'depthwise') dx = depthwiseDgrad(dy, w, xShape, o.stride as 1 | 2, o.shuffleGroups);
      else {
        dx = variant === 'pointwise' ? pointwiseDgrad(dy, w, o.groups, xShape) : directDgrad(dy, w, xShape, o);
        if (unshuffle) { const d = dx; dx = channelShuffleForward(d, unshuffle); d.dispose(); }
      }
    }
    const dw = !needs[1] ? null
      : variant === 'depthwise' ? depthwiseWgrad(x, dy, o.stride as 1 | 2, o.shuffleGroups)
      : variant === 'pointwise' ? pointwiseWgrad(x, dy, o.groups)
      : directWgrad(x, dy, w.shape, o);
    return [dx, dw];
  },
});
