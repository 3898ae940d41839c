// The comparison helper itself: what its two gates catch.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../engine/rng.ts';
import { expectClose, expectFailure, relL2, TOL, WORST } from './check.ts';

test('one badly wrong element in 100k fails though rel-L2 passes', () => {
  const want = new Rng(1).normals(100_000), got = Float64Array.from(want);
  const { scale } = relL2(got, want);
  got[54321] += 1; // about max|want| / 4, but only ~1/316 of want's L2 norm
  assert.ok(relL2(got, want).rel < TOL.f16, 'fixture: rel-L2 alone would pass');
  assert.ok(1 > WORST * TOL.f16 * scale, 'fixture: the element is past the worst-element bound');
  // catches an expectClose that gates rel-L2 only
  expectFailure(() => expectClose(got, want, TOL.f16, 'one wrong'), /one wrong: worst \[54321\]/, 'worst element');
  expectFailure(() => expectClose(got, want, TOL.f16, 'one wrong', { worst: 0.1 }), /one wrong: worst \[54321\]/, 'a stated bound');
  expectClose(got, want, TOL.f16, 'one wrong, loosely', { worst: 0.5 }); // a stated bound replaces the default
});

test('errors spread over every element pass both gates', () => {
  const rng = new Rng(2), want = rng.normals(100_000);
  const got = want.map((v) => v * (1 + 2 ** -11 * (2 * rng.uniform() - 1))); // one f16-sized rounding each
  expectClose(got, want, 1e-3, 'rounded');
  expectClose(want, want, 0, 'exact');
  expectFailure(() => expectClose(got, want, 0, 'rounded vs exact'), /rel L2/, 'bound 0 is exact');
});

test.run();
