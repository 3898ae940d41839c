// float64 reference for kernels/conv2d*.ts: a general grouped 2-D convolution, NCHW, symmetric zero
// padding, PyTorch's Conv2d semantics (no bias):
//   y[n, co, oh, ow] = Σ_{ci < Cin/G, kh, kw} x[n, g·Cin/G + ci, oh·s − p + kh, ow·s − p + kw] · w[co, ci, kh, kw],
//   g = co / (Cout/G). Backward is the adjoint of the same loop: every product adds dy·w into dx and
//   dy·x into dw, so dx and dw are exact derivatives of Σ dy·y (checked by finite differences in the tests).
import type { Shape } from '../../engine/index.ts';
import { channelShuffleRef, channelShuffleBackwardRef } from './channel_shuffle.ts';

export interface ConvRefOpts { stride: number; padding: number; groups: number }

export const convOutSize = (n: number, k: number, s: number, p: number) => Math.floor((n + 2 * p - k) / s) + 1;

/** Visit every (y index, x index, w index) triple of the convolution; x index −1 = padding. */
function eachTap(xShape: Shape, wShape: Shape, o: ConvRefOpts, f: (yi: number, xi: number, wi: number) => void): Shape {
  const [N, Cin, H, W] = xShape;
  const [Cout, Cig, KH, KW] = wShape;
  const { stride: s, padding: p, groups: G } = o;
  const Ho = convOutSize(H, KH, s, p), Wo = convOutSize(W, KW, s, p);
  const Cog = Cout / G;
  for (let n = 0; n < N; n++) for (let co = 0; co < Cout; co++) {
    const g = Math.floor(co / Cog);
    for (let oh = 0; oh < Ho; oh++) for (let ow = 0; ow < Wo; ow++) {
      const yi = ((n * Cout + co) * Ho + oh) * Wo + ow;
      for (let ci = 0; ci < Cig; ci++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
        const ih = oh * s - p + kh, iw = ow * s - p + kw;
        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
        f(yi, ((n * Cin + g * Cig + ci) * H + ih) * W + iw, ((co * Cig + ci) * KH + kh) * KW + kw);
      }
    }
  }
  return [N, Cout, Ho, Wo];
}

export function conv2dShape(xShape: Shape, wShape: Shape, o: ConvRefOpts): number[] {
  return [xShape[0], wShape[0], convOutSize(xShape[2], wShape[2], o.stride, o.padding), convOutSize(xShape[3], wShape[3], o.stride, o.padding)];
}

export function conv2dRef(x: ArrayLike<number>, xShape: Shape, w: ArrayLike<number>, wShape: Shape, o: ConvRefOpts): Float64Array {
  const shape = conv2dShape(xShape, wShape, o);
  const y = new Float64Array(shape.reduce((a, b) => a * b, 1));
  eachTap(xShape, wShape, o, (yi, xi, wi) => { y[yi] += x[xi] * w[wi]; });
  return y;
}

/** dx and dw of L = Σ dy · conv2d(x, w). */
export function conv2dBackwardRef(x: ArrayLike<number>, xShape: Shape, w: ArrayLike<number>, wShape: Shape, dy: ArrayLike<number>, o: ConvRefOpts) {
  const dx = new Float64Array(x.length), dw = new Float64Array(w.length);
  eachTap(xShape, wShape, o, (yi, xi, wi) => { dx[xi] += dy[yi] * w[wi]; dw[wi] += dy[yi] * x[xi]; });
  return { dx, dw };
}

/**
 * The fused depthwise variant, by composition: shuffle x with `shuffleGroups`, then the depthwise conv
 * (groups = C). dx flows back through the shuffle's adjoint.
 */
export function shuffledConv2dRef(x: ArrayLike<number>, xShape: Shape, w: ArrayLike<number>, wShape: Shape, o: ConvRefOpts, shuffleGroups: number): Float64Array {
  return conv2dRef(channelShuffleRef(x, xShape, shuffleGroups), xShape, w, wShape, o);
}

export function shuffledConv2dBackwardRef(x: ArrayLike<number>, xShape: Shape, w: ArrayLike<number>, wShape: Shape, dy: ArrayLike<number>, o: ConvRefOpts, shuffleGroups: number) {
  const { dx, dw } = conv2dBackwardRef(channelShuffleRef(x, xShape, shuffleGroups), xShape, w, wShape, dy, o);
  return { dx: channelShuffleBackwardRef(dx, xShape, shuffleGroups), dw };
}
