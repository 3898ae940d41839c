// The subgroup workgroup combine (kernels/workgroup_reduce.ts) on workgroup sizes that are not
// multiples of the device's subgroup size (1, 3, 12, 100: partial subgroups) and ones that are, with
// rows shorter than the workgroup (invocations with nothing to add), against float64.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, Rng, deviceInfo } from '../../engine/index.ts';
import { defineKernel, input, output, subgroupsEnabled } from '../../kernels/kernel.ts';
import { SUBGROUP_BUILTINS, workgroupReduce, type Combine } from '../../kernels/workgroup_reduce.ts';
import { upload, download } from '../util/gpu.ts';
import { expectClose, TOL } from '../util/check.ts';

type Spec = { wg: number; combine: Combine };

// one workgroup per row of L values; invocation t takes values t, t + wg, ...: 'add' sums (x, 1),
// 'welford' runs Welford's update; y[row] = the combined (Σx, count, 0, 0) or (count, mean, M2, 0)
const probe = defineKernel({
  name: 'test.workgroup_reduce',
  variant: (s: Spec) => `${s.combine}/wg${s.wg}`,
  uniforms: { L: 'u32' },
  buffers: () => [input('x', 'f32'), output('y', 'f32', 4)],
  subgroups: () => true,
  body: (s) => /* wgsl */ `
${workgroupReduce('wg_r', s.combine === 'add' ? 'vec2f' : 'vec3f', s.wg, s.combine)}
@compute @workgroup_size(${s.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32, ${SUBGROUP_BUILTINS}) {
  let base = wid.x * u.L;
  ${s.combine === 'add' ? `var v = vec2f(0.0);
  for (var i = t; i < u.L; i += ${s.wg}u) { v += vec2f(x[base + i], 1.0); }
  let a = wg_r(v, t, sid, nsg);
  if (t == 0u) { y[wid.x] = vec4f(a, 0.0, 0.0); }` : `var v = vec3f(0.0);
  for (var i = t; i < u.L; i += ${s.wg}u) {
    let e = x[base + i];
    v.x += 1.0;
    let d = e - v.y;
    v.y += d / v.x;
    v.z += d * (e - v.y);
  }
  let a = wg_r(v, t, sid, nsg);
  if (t == 0u) { y[wid.x] = vec4f(a, 0.0); }`}
}`,
});

function combined(x: Tensor, rows: number, L: number, s: Spec): Tensor {
  const y = Tensor.empty([rows, 4], 'f32');
  probe.run(s, { uniforms: { L }, buffers: { x, y }, grid: [rows, 1, 1] });
  return y;
}

const ROWS = 3;
const WGS = [1, 3, 12, 64, 100, 256];
const LENGTHS = [2, 37, 1000];

if (!deviceInfo().subgroups) {
  test('workgroupReduce: this adapter has no subgroups, so subgroupsEnabled() is false and workgroupReduce is NOT covered here', () => {
    assert.is(subgroupsEnabled(), false);
  });
} else {
  for (const combine of ['add', 'welford'] as const) {
    test(`workgroupReduce ${combine}: workgroups of ${WGS.join(', ')} over rows of ${LENGTHS.join(', ')} values, ${ROWS} rows`, async () => {
      for (const wg of WGS) {
        for (const L of LENGTHS) {
          // offset 10: the means are not ~0, so the M2 combine's deviations matter
          const xs = Float64Array.from(Float32Array.from(new Rng(wg * 7919 + L).normals(ROWS * L, 1.5).map((v) => v + 10)));
          const X = upload(xs, [ROWS, L]);
          const got = await download(combined(X, ROWS, L, { wg, combine }));
          X.dispose();
          const what = `wg ${wg}, L ${L}`;
          const col = (k: number) => Array.from({ length: ROWS }, (_, r) => got[4 * r + k]);
          const rows = Array.from({ length: ROWS }, (_, r) => xs.subarray(r * L, (r + 1) * L));
          const sums = rows.map((v) => v.reduce((a, b) => a + b, 0));
          // f32 accumulation of at most 1000 values near 10 (relative ~ L/wg·2^-24 per partial, then
          // the combine): far under TOL.f32; counts are exact
          if (combine === 'add') {
            expectClose(col(0), sums, TOL.f32, `${what}: sums`);
            assert.equal(col(1), rows.map(() => L), `${what}: counts`);
          } else {
            const means = sums.map((s) => s / L);
            const m2 = rows.map((v, r) => v.reduce((a, e) => a + (e - means[r]) ** 2, 0));
            assert.equal(col(0), rows.map(() => L), `${what}: counts`);
            expectClose(col(1), means, TOL.f32, `${what}: means`);
            expectClose(col(2), m2, TOL.f32, `${what}: M2`);
          }
        }
      }
    });
  }
}

test.run();
