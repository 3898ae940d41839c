// The tuning cache on disk (train/tune_cache.ts): where it lives, a round trip that keeps other
// adapters' sections, and a corrupt, foreign-version or partly malformed file ignored with a warning,
// never trusted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../util/gpu.ts';
import { clearTuned, setTuned, tunedEntries } from '../../kernels/tuning.ts';
import { adapterKey, loadTuneCache, saveTuneCache, tuneCachePath, useTuneCache } from '../../train/tune_cache.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tune-cache-'));
test.after(() => { fs.rmSync(dir, { recursive: true, force: true }); clearTuned(); });
const entry = (T: number) => ({ choice: { TM: T, TPV: 1, WGX: 8 }, source: 'abcd0123', ms: 1, defaultMs: 2 });

test('the cache path: WG_TUNE_CACHE, else XDG_CACHE_HOME, else ~/.cache', () => {
  assert.is(tuneCachePath({ WG_TUNE_CACHE: '/x/t.json', XDG_CACHE_HOME: '/c' }), '/x/t.json');
  assert.is(tuneCachePath({ XDG_CACHE_HOME: '/c' }), '/c/shufflenet-webgpu/tuning.json');
  assert.is(tuneCachePath({}), path.join(os.homedir(), '.cache', 'shufflenet-webgpu', 'tuning.json'));
});

test('save and load: this adapter\'s section round-trips, another adapter\'s is kept and not loaded', () => {
  const file = path.join(dir, 'sub', 'tuning.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ version: 1, adapters: { 'another GPU [vulkan, core]': { 'k s': entry(16) } } }));
  clearTuned();
  setTuned('k', 's', entry(4));
  setTuned('k', 't', { ...entry(8), timed: 3, list: '0123abcd' }); // tuned part-way: how far, over which list
  saveTuneCache(file);
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(Object.keys(saved.adapters).sort(), ['another GPU [vulkan, core]', adapterKey()].sort());
  clearTuned();
  const warnings: string[] = [];
  assert.is(loadTuneCache((w) => warnings.push(w), file), 2);
  assert.equal(tunedEntries().get('k s')!.choice, { TM: 4, TPV: 1, WGX: 8 });
  assert.is(tunedEntries().get('k s')!.timed, undefined);
  assert.is(tunedEntries().get('k t')!.timed, 3);
  assert.is(tunedEntries().get('k t')!.list, '0123abcd');
  assert.equal(warnings, []);
  assert.is(fs.readdirSync(path.dirname(file)).length, 1, 'no temporary file left');
  const lines: string[] = [];
  assert.is(useTuneCache((l) => lines.push(l), file), 2);
  assert.equal(lines, [`tuning: 2 tuned kernel choices for this adapter from ${file}`]);
});

test('no file: no entries and one line saying how to make them; a bad file: ignored with a warning, entries cleared', () => {
  const lines: string[] = [];
  setTuned('k', 's', entry(4));
  assert.is(useTuneCache((l) => lines.push(l), path.join(dir, 'none.json')), 0);
  assert.is(tunedEntries().size, 0);
  assert.match(lines[0]!, /^tuning: none cached for this adapter \(.*none\.json\): kernels use their default choices; npm run tune/);
  const cases: [string, RegExp][] = [
    ['{"version": 1, "adapters": {', /is malformed \(.*JSON.*\): ignored, kernels use their default choices; npm run tune rewrites it/],
    ['{"version": 7, "adapters": {}}', /is malformed \(not a version 1 tuning cache\)/],
  ];
  for (const [text, want] of cases) {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, text);
    const warnings: string[] = [];
    setTuned('k', 's', entry(4));
    assert.is(loadTuneCache((w) => warnings.push(w), file), 0);
    assert.is(tunedEntries().size, 0);
    assert.match(warnings[0]!, want);
  }
  // malformed entries in this adapter's section are skipped and counted; the good ones load
  const file = path.join(dir, 'partly.json');
  fs.writeFileSync(file, JSON.stringify({ version: 1, adapters: { [adapterKey()]: { 'k s': entry(4), 'k t': { choice: 'big' }, 'k u': 3, 'k v': { ...entry(4), timed: 0, list: 'x' }, 'k w': { ...entry(4), timed: 2.5, list: 'x' }, 'k x': { ...entry(4), timed: 2 } } } }));
  const warnings: string[] = [];
  assert.is(loadTuneCache((w) => warnings.push(w), file), 1);
  assert.match(warnings[0]!, /partly\.json: 5 malformed entries ignored$/);
  // saving over a malformed file replaces it with a valid one
  fs.writeFileSync(path.join(dir, 'bad.json'), 'not json');
  saveTuneCache(path.join(dir, 'bad.json'));
  assert.is(JSON.parse(fs.readFileSync(path.join(dir, 'bad.json'), 'utf8')).version, 1);
});

test.run();
