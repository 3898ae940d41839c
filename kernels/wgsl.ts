// WGSL shared by the kernels: workgroup size, the flat index of a (possibly 2-D folded) grid, and the
// pair-at-a-time store. Buffer declarations and accessors are generated from specs (kernel.ts).

export const WG = 256;

/** Flat invocation index for grids folded by grid1d(). */
export const flatIndex = (wg = WG) => `gid.x + gid.y * nwg.x * ${wg}u`;

export const builtins = '@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u';

/** Elements handled per invocation by kernels that store one pair at a time. */
export const pairs = (n: number) => Math.ceil(n / 2);

/**
 * WGSL storing elements 2p and 2p + 1 of `out` as one pair (st2_, kernel.ts), each computed by the WGSL
 * function `f`; the second is 0 past `count` (an odd total), so no invocation writes half a word.
 */
export const storePair = (out: string, f: string, count: string) =>
  `st2_${out}(p, vec2f(${f}(2u * p), select(0.0, ${f}(2u * p + 1u), 2u * p + 1u < ${count})));`;

/** `main` with one invocation per pair of `out`'s `count` elements, each computed by the WGSL function `f`. */
export const pairMain = (out: string, f: string, count: string) => `// one invocation per pair of ${out} elements (packed halves are stored a pair at a time)
@compute @workgroup_size(${WG})
fn main(${builtins}) {
  let p = ${flatIndex()};
  if (2u * p >= ${count}) { return; }
  ${storePair(out, f, count)}
}`;

/** [0, 1, ..., n - 1]: for unrolling in kernel generators. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
