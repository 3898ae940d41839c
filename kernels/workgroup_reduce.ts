// The workgroup-level combine of the reductions' subgroup variants (devices with 'subgroups'; the
// kernels' plain paths keep their own trees in workgroup memory). Each subgroup combines its
// invocations' values with subgroupAdd, its elected invocation stores the subgroup's partial at slot
// subgroup_id of workgroup memory, and invocation 0 combines the num_subgroups partials in slot order
// (no atomics, so no run-to-run order). Nothing assumes a subgroup size or how subgroups map onto
// local_invocation_index, and subgroupAdd counts only the active invocations, so a workgroup that
// is not a multiple of the subgroup size (a partial subgroup) is combined correctly.
// Welford triples (count, mean, M2) are combined by sums as well: the counts and count-weighted means
// give the subgroup's mean, then M2 = Σ (M2_i + n_i·(mean_i - mean)²), deviations taken from the
// combined mean (Chan's merge, all at once); the same formula combines the slots.

/** Entry-point parameters the combine needs, with local_invocation_index as `t`. */
export const SUBGROUP_BUILTINS = '@builtin(subgroup_id) sid: u32, @builtin(num_subgroups) nsg: u32';

export type Combine = 'add' | 'welford';
type WgslType = 'f32' | 'vec2f' | 'vec3f' | 'vec4f';

/** Subgroups in a workgroup of `wg` invocations at most: WebGPU subgroups hold at least 4. */
export const maxSubgroups = (wg: number) => Math.ceil(wg / 4);

/**
 * WGSL of `fn <name>(v, t, sid, nsg) -> T`: the workgroup's combined value of v, valid in invocation
 * t == 0 only. Every invocation of the workgroup must call it, in uniform control flow (subgroup
 * operations and a workgroupBarrier). 'welford' takes and returns vec3f (count, mean, M2).
 */
export function workgroupReduce(name: string, type: WgslType, wg: number, combine: Combine): string {
  const slots = `${name}_slots`;
  const head = `var<workgroup> ${slots}: array<${type}, ${maxSubgroups(wg)}>;
// the workgroup's combined value, valid in invocation 0 only; call in uniform control flow
fn ${name}(v: ${type}, t: u32, sid: u32, nsg: u32) -> ${type} {`;
  if (combine === 'add') {
    return /* wgsl */ `${head}
  let s = subgroupAdd(v);
  if (subgroupElect()) { ${slots}[sid] = s; }
  workgroupBarrier();
  var a = ${slots}[0];
  if (t == 0u) { for (var k = 1u; k < nsg; k++) { a += ${slots}[k]; } }
  return a;
}`;
  }
  if (type !== 'vec3f') throw new Error(`workgroupReduce ${name}: welford combines vec3f (count, mean, M2), not ${type}`);
  return /* wgsl */ `${head}
  let n = subgroupAdd(v.x);
  let mean = subgroupAdd(v.x * v.y) / max(n, 1.0);
  let d = v.y - mean;
  let m2 = subgroupAdd(v.z + v.x * d * d);
  if (subgroupElect()) { ${slots}[sid] = vec3f(n, mean, m2); }
  workgroupBarrier();
  var a = ${slots}[0];
  if (t == 0u) {
    var nw = vec2f(0.0);   // (Σ n_k, Σ n_k·mean_k)
    for (var k = 0u; k < nsg; k++) { let p = ${slots}[k]; nw += vec2f(p.x, p.x * p.y); }
    let mw = nw.y / max(nw.x, 1.0);
    var q = 0.0;
    for (var k = 0u; k < nsg; k++) { let p = ${slots}[k]; let e = p.y - mw; q += p.z + p.x * e * e; }
    a = vec3f(nw.x, mw, q);
  }
  return a;
}`;
}
