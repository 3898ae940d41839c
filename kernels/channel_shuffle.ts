// Channel shuffle of ShuffleNetV1, exactly the seed's: view x [N, C, H, W] as [N, C/G, G, H, W],
// transpose (0, 2, 1, 3, 4), view back. Output channel c = j·(C/G) + i copies input channel i·G + j
// (i < C/G, j < G), i.e. src(c) = (c mod C/G)·G + ⌊c / (C/G)⌋ (tests/ref/channel_shuffle.ts derives it
// from the reshape/transpose). Layout NCHW, any dtype.
// A permutation of whole H·W planes moves bytes without looking at them, so when a plane is a whole
// number of 16-byte vectors (or 4-byte words) the kernel copies vec4u (or u32) and is dtype-blind;
// only f16 planes of odd length (a pair straddling two channels) need per-element gathers.
// Backward: the inverse permutation, which is the same shuffle with C/G groups.
// The depthwise conv can fuse this into its input indexing (kernels/conv2d_depthwise.ts, shuffleGroups).
// The permutation stays within each image, so a batch over the storage binding limit runs in binding
// windows of whole images (windows.ts).
import { Tensor, defineOp, grid1d } from '../engine/index.ts';
import { defineKernel, input, output } from './kernel.ts';
import { WG, builtins, flatIndex, pairMain } from './wgsl.ts';
import { batchWindows, rowsOf } from './windows.ts';

/** vec4: copy 16-byte units; word: copy 4-byte units; pair: f16 with odd H·W, gather per element. */
type Mode = 'vec4' | 'word' | 'pair';
type Spec = { mode: Mode };

/** The WGSL expression of src(c) for uniforms C and G (shared with the depthwise kernel). */
export const shuffleSrcWgsl = (c: string, C: string, G: string) => `((${c}) % (${C} / ${G})) * ${G} + (${c}) / (${C} / ${G})`;

const kernel = defineKernel({
  name: 'channel_shuffle',
  variant: (s: Spec) => s.mode,
  uniforms: { units: 'u32', C: 'u32', G: 'u32', plane: 'u32' },
  // copies move raw words whatever the dtype; only the pair gather reads halves
  buffers: (s) => s.mode === 'pair' ? [input('x', 'f16'), output('y', 'f16')]
    : [input('x', 'u32', s.mode === 'vec4' ? 4 : 1), output('y', 'u32', s.mode === 'vec4' ? 4 : 1)],
  body: (s) => s.mode === 'pair' ? /* wgsl */ `
fn at(e: u32) -> f32 {
  let hw = e % u.plane;
  let c = (e / u.plane) % u.C;
  let n = e / (u.plane * u.C);
  return ld_x((n * u.C + ${shuffleSrcWgsl('c', 'u.C', 'u.G')}) * u.plane + hw);
}
// u.units = element count; a pair may straddle two planes
${pairMain('y', 'at', 'u.units')}` : /* wgsl */ `
// one invocation per ${s.mode === 'vec4' ? 'vec4u' : 'u32'} unit of y (u.plane = units per channel plane)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let idx = ${flatIndex()};
  if (idx >= u.units) { return; }
  let k = idx % u.plane;
  let c = (idx / u.plane) % u.C;
  let n = idx / (u.plane * u.C);
  st_y(idx, ld_x((n * u.C + ${shuffleSrcWgsl('c', 'u.C', 'u.G')}) * u.plane + k));
}`,
});

/** Raw shuffle (no checks, no tape): y[:, j·(C/G) + i] = x[:, i·G + j]. */
export function channelShuffleForward(x: Tensor, G: number): Tensor {
  const [N, C, H, W] = x.shape;
  const y = Tensor.empty(x.shape, x.dtype);
  const planeBytes = H * W * (x.dtype === 'f32' ? 4 : 2);
  const mode: Mode = planeBytes % 16 === 0 ? 'vec4' : planeBytes % 4 === 0 ? 'word' : 'pair';
  const unit = mode === 'vec4' ? 16 : 4;
  const plane = mode === 'pair' ? H * W : planeBytes / unit;
  for (const w of batchWindows('channelShuffle', N, [x, y])) {
    // pair mode counts elements (one invocation per two); the others count units
    const units = mode === 'pair' ? w.count * C * H * W : (w.count * C * planeBytes) / unit;
    const threads = mode === 'pair' ? Math.ceil(units / 2) : units;
    kernel.run({ mode }, { uniforms: { units, C, G, plane }, buffers: { x: rowsOf(x, N, w), y: rowsOf(y, N, w) }, grid: grid1d(threads, WG) });
  }
  return y;
}

/** Channel shuffle with G groups (x [N, C, H, W], C divisible by G); backward is the shuffle with C/G groups. */
export const channelShuffle = defineOp('channelShuffle', {
  check: (e, x: Tensor, G: number) => {
    e.rank('x', x, 4);
    e.divisible('C', x.shape[1], 'G', G);
  },
  forward: (x: Tensor, G: number) => ({ y: channelShuffleForward(x, G), saved: { Ginv: x.shape[1] / G } }),
  backward: (dy, { Ginv }) => [channelShuffleForward(dy, Ginv)],
});
