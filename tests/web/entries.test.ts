// The browser entry exports the Node entry's API less file I/O, so code written against one runs on
// the other with only its file I/O changed. Catches: an export added to one entry and not the other
// (a platform-neutral one belongs in index.web.ts; one that needs Node's file system, in NODE_ONLY
// below and in index.ts), and a file function leaking into the browser entry.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as node from '../../index.ts';
import * as web from '../../index.web.ts';
import '../util/gpu.ts';

/** What index.ts exports beyond index.web.ts: checkpoint files on disk (train/checkpoint_io.ts). */
const NODE_ONLY = [
  'saveCheckpoint', 'readCheckpoint', 'loadCheckpoint', 'writeCheckpointFile', 'readSafetensorsFile', 'writeSafetensorsFile',
  'readMindsporeCkptFile', 'writeMindsporeCkptFile', 'writeFileAtomic',
];

test('index.web.ts exports what index.ts does, less the file functions', () => {
  const nodeNames = Object.keys(node).sort(), webNames = new Set(Object.keys(web));
  const missing = nodeNames.filter((n) => !webNames.has(n) && !NODE_ONLY.includes(n));
  assert.equal(missing, [], `index.ts exports ${missing.join(', ')}, index.web.ts does not: export it from index.web.ts, or if it needs Node's file system add it to NODE_ONLY`);
  assert.equal(NODE_ONLY.filter((n) => webNames.has(n)), [], 'a file function is exported by the browser entry');
  assert.equal(NODE_ONLY.filter((n) => !(n in node)).sort(), [], 'NODE_ONLY names something index.ts does not export');
  assert.equal([...webNames].filter((n) => !(n in node)), [], 'index.web.ts exports something index.ts does not');
});

// the bytes functions a page uses in place of the file ones, round-tripped
test('a checkpoint round-trips through bytes (encodeCheckpoint, decodeCheckpoint, applyCheckpoint)', async () => {
  const m = new web.ShuffleNetV1({ size: '0.5x', group: 3, classes: 10, imageSize: 32, stem: 'cifar', seed: 3 });
  const bytes = await web.encodeCheckpoint(m, { training: { config: { dataset: 'fashion-mnist' } } });
  const ck = web.decodeCheckpoint(bytes, 'page.safetensors');
  assert.equal(ck.training, { config: { dataset: 'fashion-mnist' } });
  const back = web.applyCheckpoint(ck, 'page.safetensors');
  const a = await m.readStateDict(), b = await back.readStateDict();
  assert.equal([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) assert.equal(Array.from(b.get(k)!.data), Array.from(t.data), k);
  assert.throws(() => web.decodeCheckpoint(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), 'x.safetensors'), /x\.safetensors: .*PNG/);
  m.dispose(); back.dispose();
});

test.run();
