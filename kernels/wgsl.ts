// WGSL shared by the kernels: workgroup size, the flat index of a (possibly 2-D folded) grid, and
// dtype access. f16 tensors are stored as packed halves (two per u32 word) on every adapter; kernels
// unpack to f32, compute in f32 and pack on store, so results do not depend on shader-f16.
import type { DType } from '../engine/index.ts';

export const WG = 256;

/** Flat invocation index for grids folded by grid1d(). */
export const flatIndex = (wg = WG) => `gid.x + gid.y * nwg.x * ${wg}u`;

export const builtins = '@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u';

/**
 * Scalar element access for a storage array named `name` holding `dtype`: declares the binding and
 * `ld_<name>(i) -> f32`; for writable arrays also `st_<name>(i, v)`. Packed-half stores of single
 * elements race with the neighbour's store, so writers of f16 must use `st2_<name>(pair, vec2f)`
 * (one invocation per pair of elements), which is the only store declared for f16.
 */
export function array(binding: number, name: string, dtype: DType, access: 'read' | 'read_write'): string {
  if (dtype === 'f32') {
    return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<f32>;
fn ld_${name}(i: u32) -> f32 { return ${name}[i]; }
${access === 'read_write' ? `fn st_${name}(i: u32, v: f32) { ${name}[i] = v; }
fn st2_${name}(p: u32, v: vec2f) { ${name}[2u * p] = v.x; ${name}[2u * p + 1u] = v.y; }` : ''}`;
  }
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<u32>;
fn ld_${name}(i: u32) -> f32 { return unpack2x16float(${name}[i >> 1u] >> ((i & 1u) << 4u)).x; }
${access === 'read_write' ? `fn st2_${name}(p: u32, v: vec2f) { ${name}[p] = pack2x16float(v); }` : ''}`;
}

/** Elements handled per invocation by kernels that store one pair at a time. */
export const pairs = (n: number) => Math.ceil(n / 2);

/**
 * WGSL storing elements 2p and 2p + 1 of `out` as one pair (see array()), each computed by the WGSL
 * function `f`; the second is 0 past `count` (an odd total), so no invocation writes half a word.
 */
export const storePair = (out: string, f: string, count: string) =>
  `st2_${out}(p, vec2f(${f}(2u * p), select(0.0, ${f}(2u * p + 1u), 2u * p + 1u < ${count})));`;

/** [0, 1, ..., n - 1]: for unrolling in kernel generators. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
