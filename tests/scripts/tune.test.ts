// `npm run tune` end to end (scripts/tune.ts), bounded to one problem: it records the kernel problems
// of the preset's training pass (the first: a pointwise GEMM), times the first one's candidates, says what it chose and writes that
// to the tuning cache for this adapter; a bad --max-problems is refused before the device opens.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../util/gpu.ts';
import { startCli } from '../train/spawn_cli.ts';
import { adapterKey } from '../../train/tune_cache.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tune-'));
const suiteCache = process.env.WG_TUNE_CACHE;
test.after(() => { fs.rmSync(dir, { recursive: true, force: true }); process.env.WG_TUNE_CACHE = suiteCache; });

test('tune --preset smoke --max-problems 1: one problem timed, the choice printed and cached for this adapter', async () => {
  const file = path.join(dir, 'tuning.json');
  process.env.WG_TUNE_CACHE = file;
  const cli = startCli('scripts/tune.ts', ['--preset', 'smoke', '--max-problems', '1']);
  const r = await cli.exited;
  process.env.WG_TUNE_CACHE = suiteCache;
  const out = cli.output();
  assert.is(r.code, 0, out);
  assert.match(out, /^tuning 0\.5x g=3 cifar stem at 32x32, 16 images a pass, f32; 0 entries already cached$/m);
  assert.match(out, /^\d+ kernel problems, the first 1 tuned \(--max-problems\); timing up to \d+ candidates each$/m);
  // the first problem dispatched: the stem's direct convolution
  assert.match(out, /^ {2}direct conv f32 \[16, 3, 32, 32\] -> \d+ 3x3\/1 +default COT\d+ WG64 +[\d.]+ ms -> COT\d+ WG\d+ +[\d.]+ ms/m);
  assert.match(out, new RegExp(`saved to ${file.replace(/[.]/g, '\\.')}$`, 'm'));
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  const entries = Object.entries(saved.adapters[adapterKey()]) as [string, { choice: Record<string, number>; ms: number; defaultMs: number }][];
  assert.is(entries.length, 1);
  assert.match(entries[0]![0], /^conv2d_direct\.forward f32 N16 3x32x32 -> \d+ k3x3 s1 p1 g1$/);
  assert.ok(entries[0]![1].ms <= entries[0]![1].defaultMs, 'never slower than the default as measured');
});

test('tune: a bad --max-problems is refused, naming it', async () => {
  const cli = startCli('scripts/tune.ts', ['--max-problems', 'x']);
  const r = await cli.exited;
  assert.is(r.code, 2);
  assert.match(cli.output(), /tune: --max-problems needs a positive integer, got x/);
});

test.run();
