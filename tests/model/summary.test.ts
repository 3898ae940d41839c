// Summary totals against the ShuffleNet paper and the PyTorch twin's counts (scripts/torch_twin/check_flops.py),
// channel tables against Megvii's, and the configuration errors. Pure arithmetic: no GPU work.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { summary, formatSummary } from '../../model/summary.ts';
import { MEGVII_CHANNELS, SIZES, GROUPS, channelsFor, derivedChannels, resolveConfig, unitPlans } from '../../model/architecture.ts';

const within = (got: number, want: number, rel: number, what: string) =>
  assert.ok(Math.abs(got - want) <= rel * want, `${what}: ${got} not within ${rel * 100}% of ${want}`);

// Paper "FLOPs" (multiply-adds, conv + dense) and the twin's exact counts (MMACs, params incl. BN affine), g = 3.
const G3: [string, number, number, number][] = [
  ['0.5x', 38, 37.59, 0.718], ['1.0x', 140, 137.46, 1.866], ['1.5x', 292, 292.44, 3.442], ['2.0x', 524, 524.05, 5.451],
];
for (const [size, paper, twinMacs, twinParams] of G3) {
  test(`summary ${size} g=3 at 224: paper within 2%, twin to its printed precision`, () => {
    const s = summary({ size: size as '1.0x', group: 3, classes: 1000 }, 224);
    within(s.macs / 1e6, paper, 0.02, 'MMACs vs paper');
    assert.is((s.macs / 1e6).toFixed(2), twinMacs.toFixed(2), 'MMACs vs twin');
    assert.is((s.params / 1e6).toFixed(3), twinParams.toFixed(3), 'params vs twin');
  });
}

test('summary 1.0x, every group: paper Table 1 complexity within 2%', () => {
  const table1: Record<number, number> = { 1: 143, 2: 140, 3: 137, 4: 133, 8: 137 };
  for (const g of GROUPS) within(summary({ size: '1.0x', group: g, classes: 1000 }, 224).macs / 1e6, table1[g], 0.02, `g=${g}`);
});

test('summary rows: stem, 16 units, head; shapes at 224 and at 32 with the cifar stem', () => {
  const s = summary({ size: '1.0x', group: 3, classes: 1000 }, 224);
  assert.equal(s.rows[0], { name: 'first_conv.0', kind: 'conv3x3 /2', out: [24, 112, 112], params: 648, macs: 112 * 112 * 648 });
  assert.equal(s.rows.find((r) => r.name === 'maxpool')!.out, [24, 56, 56]);
  assert.equal(s.rows.find((r) => r.name === 'features.0.out')!.out, [240, 28, 28]);
  assert.equal(s.rows.find((r) => r.name === 'features.15.out')!.out, [960, 7, 7]);
  assert.equal(s.rows.at(-1), { name: 'classifier', kind: 'dense', out: [1000], params: 961000, macs: 960000 });
  assert.is(s.params, s.rows.reduce((a, r) => a + r.params, 0));
  const c = summary({ size: '0.5x', group: 8, classes: 10, stem: 'cifar' }, 32);
  assert.equal(c.rows[0].out, [16, 32, 32]);
  assert.not.ok(c.rows.some((r) => r.name === 'maxpool'));
  assert.equal(c.rows.find((r) => r.name === 'features.15.out')!.out, [768, 4, 4]);
  // odd sizes round up ('same' pooling): 33 -> 17 -> 9 -> 5 -> 3 -> 2
  assert.equal(summary({ size: '0.5x', group: 3, classes: 10 }, 33).rows.find((r) => r.name === 'features.15.out')!.out, [480, 2, 2]);
  assert.match(formatSummary(s), /multiply-adds: 137,460,672/);
});

test('channels: the scaling rule regenerates Megvii\'s g=3 and g=8 tables; every combination builds', () => {
  for (const g of [3, 8] as const) for (const size of SIZES) assert.equal(derivedChannels(size, g), [...MEGVII_CHANNELS[g][size]], `${size} g=${g}`);
  assert.equal(channelsFor('1.0x', 1), [24, 144, 288, 576]);
  assert.equal(channelsFor('1.0x', 2), [24, 200, 400, 800]);
  assert.equal(channelsFor('1.0x', 4), [24, 272, 544, 1088]);
  assert.equal(channelsFor('0.5x', 2), [12, 104, 200, 400]);
  assert.equal(channelsFor('1.5x', 4), [24, 416, 816, 1632]);
  for (const size of SIZES) {
    for (const g of GROUPS) {
      for (const u of unitPlans(size, g)) {
        const ok = u.mid % g === 0 && u.inC % u.groups1 === 0 && u.mainOut % g === 0 && u.mainOut > 0 && Number.isInteger(u.mid);
        assert.ok(ok, `${size} g=${g} unit ${u.index}: in ${u.inC} mid ${u.mid} out' ${u.mainOut}`);
      }
    }
  }
  assert.equal(unitPlans('1.0x', 3).map((u) => u.stride), [2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]);
  assert.equal(unitPlans('1.0x', 3).map((u) => u.groups1).slice(0, 2), [1, 3]);
});

test('config errors name the valid choices', () => {
  assert.throws(() => resolveConfig({ size: '0.75x' as '1.0x', group: 3 }), /unsupported size "0\.75x" with group 3; valid: size 0\.5x \| 1\.0x \| 1\.5x \| 2\.0x with group 1 \| 2 \| 3 \| 4 \| 8/);
  assert.throws(() => resolveConfig({ group: 6 as 3 }), /unsupported size "1\.0x" with group 6/);
  assert.throws(() => resolveConfig({ stem: 'tiny' as 'cifar' }), /unknown stem "tiny"; valid: imagenet \| cifar/);
  assert.throws(() => resolveConfig({ imageSize: 31 }), /imageSize must be at least 32x32.*got 31x31/);
  assert.throws(() => resolveConfig({ classes: 0 }), /classes must be a positive integer, got 0/);
  assert.throws(() => summary({ size: '1.0x', group: 3 }, 16), /at least 32x32/);
});

test('scripts/model_summary.ts prints the table and rejects bad flags', () => {
  const run = (...args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', 'scripts/model_summary.ts', ...args], { encoding: 'utf8' });
  const out = run('--size', '2.0x', '--group', '3');
  assert.match(out, /ShuffleNetV1 2\.0x g=3, 1000 classes/);
  assert.match(out, /multiply-adds: 524,045,184 \(524\.05 M/);
  assert.match(out, /parameters: 5,450,776/);
  assert.match(run('--size', '0.5x', '--stem', 'cifar', '--image-size', '32', '--classes', '10'), /ShuffleNetV1 0\.5x g=3, 10 classes/);
  const fails = (...args: string[]) => { try { execFileSync(process.execPath, ['--import', 'tsx', 'scripts/model_summary.ts', ...args], { stdio: 'pipe', encoding: 'utf8' }); return null; } catch (e) { return e as { status: number; stderr: string } }; };
  for (const [args, msg] of [[['--group', '5'], /unsupported size/], [['--image'], /unknown flag --image/], [['--size', '3x'], /--size: expected one of 0\.5x/], [['--image-size', '16'], /at least 32x32/]] as const) {
    const r = fails(...args);
    assert.ok(r, `${args.join(' ')} fails`);
    assert.is(r!.status, 2, args.join(' '));
    assert.match(r!.stderr, msg);
  }
});

test.run();
