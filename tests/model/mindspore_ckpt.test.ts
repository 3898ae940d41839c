// MindSpore .ckpt interop, against files written by protobuf's own Python runtime
// (scripts/mindspore_ckpt/make_fixtures.py): the reader's values, byte-identical re-encoding, the name
// mapping (tensors and logits equal to the safetensors fixture they were made from), round trips
// through both formats, and every kind of damage named by tag and byte offset.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, noGrad } from '../../engine/index.ts';
import '../util/gpu.ts';
import { expectClose } from '../util/check.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { GROUPS, type Group, type ModelSize } from '../../model/architecture.ts';
import { loadCheckpoint, readCheckpoint, writeCheckpointFile, readMindsporeCkptFile, writeMindsporeCkptFile } from '../../train/checkpoint_io.ts';
import { crc32, decodeMindsporeCkpt, encodeMindsporeCkpt, msFloat32, msTextOf, msToFloat32, type MsEntry } from '../../model/mindspore_ckpt.ts';
import { MS_CONFIG_TAG, fromMindspore, mindsporeLayout } from '../../model/mindspore_names.ts';
import { readCheckpointTensors } from './fixture.ts';

const SMALL = 'tests/fixtures/mindspore_small.ckpt';
const NET = 'tests/fixtures/shufflenet_0.5x_g3.ckpt';
const NET_ST = 'tests/fixtures/shufflenet_0.5x_g3.safetensors';
const dir = mkdtempSync(join(tmpdir(), 'ms-ckpt-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function throwsWith(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  try { fn(); } catch (e) {
    const msg = (e as Error).message;
    for (const p of parts) assert.ok(typeof p === 'string' ? msg.includes(p) : p.test(msg), `expected ${p} in: ${msg}`);
    return;
  }
  assert.unreachable(`expected an error with ${parts.join(', ')}`);
}

async function rejectsWith(p: Promise<unknown>, ...parts: (string | RegExp)[]): Promise<void> {
  try { await p; } catch (e) { return throwsWith(() => { throw e; }, ...parts); }
  assert.unreachable(`expected a rejection with ${parts.join(', ')}`);
}

// A protobuf writer of its own for malformed files (neither the reader's nor the encoder's code).
const vi = (n: number): number[] => { const o: number[] = []; while (n >= 128) { o.push((n % 128) | 128); n = Math.floor(n / 128); } o.push(n); return o; };
const ld = (field: number, b: ArrayLike<number>) => [(field << 3) | 2, ...vi(b.length), ...Array.from(b)];
const utf8 = (s: string) => Array.from(new TextEncoder().encode(s));
const f32 = (...v: number[]) => Array.from(new Uint8Array(Float32Array.from(v).buffer));
const tagField = (t: string) => ld(1, utf8(t));
const tensorField = (dims: number[], type: string, content: number[]) => ld(2, [...dims.flatMap((d) => [0x08, ...vi(d)]), ...ld(2, utf8(type)), ...ld(3, content)]);
/** One Checkpoint message holding one Value of the given raw fields. */
const value = (...fields: number[][]) => ld(1, fields.flat());
const file = (...values: number[][]) => Uint8Array.from(values.flat());
const decode = (b: Uint8Array) => decodeMindsporeCkpt(b, 'x.ckpt');

// ---------------------------------------------------------------------------------------
// The container format

test('small fixture: every type, a scalar, a str, and a 3-slice parameter joined (catches slice, dtype and UTF-32 decoding faults)', async () => {
  const f = await readMindsporeCkptFile(SMALL);
  assert.is(f.values, 12, 'Values in the file');
  assert.is(f.crc, false);
  const by = new Map(f.entries.map((e) => [e.tag, e]));
  assert.equal(f.entries.map((e) => e.tag), ['w_f32', 'w_sliced', 'w_f16', 'w_f64', 'w_bf16', 'step', 'count', 'mask', 'lr', 'note']);
  assert.equal(Array.from(msToFloat32(by.get('w_f32')!)), Array.from({ length: 15 }, (_, i) => i * 0.25 - 1));
  const sliced = by.get('w_sliced')!;
  assert.equal(sliced.dims, [10, 4]);
  assert.equal(Array.from(msToFloat32(sliced)), Array.from({ length: 40 }, (_, i) => ((i * 7) % 13) / 8 - 0.75));
  const f16 = Array.from(msToFloat32(by.get('w_f16')!));
  assert.equal(f16.slice(0, 4), [1.5, -2, 65504, 2 ** -24]);
  assert.ok(Object.is(f16[4], -0), '-0 keeps its sign');
  assert.is(f16[5], 0.0999755859375);
  assert.equal(Array.from(msToFloat32(by.get('w_f64')!)), [1e-3, -7.25, 1 / 3, 2 ** 40].map(Math.fround));
  assert.equal(Array.from(msToFloat32(by.get('w_bf16')!)), [1, -3.140625, 0.0078125]);
  assert.equal(Array.from(new Int32Array(by.get('step')!.content.slice().buffer)), [7]);
  const count = by.get('count')!;
  assert.equal(count.dims, []);
  assert.is(new BigInt64Array(count.content.slice().buffer)[0], 2n ** 40n + 3n);
  assert.equal(Array.from(by.get('mask')!.content), [0, 1, 2, 254, 255]);
  assert.equal(by.get('lr')!.dims, []);
  assert.is(msTextOf(by.get('note')!), 'ShuffleNet \u2713 \u{1d518}');
  // an entry's offset is its first Value's: w_f32's message is 86 bytes (2 framing + 84 Value)
  assert.equal([by.get('w_f32')!.offset, by.get('w_sliced')!.offset], [2, 88]);
});

test("re-encoding a file protobuf wrote gives the same bytes: slices, unpacked dims, CRC trailer (catches any drift from protobuf's or MindSpore's layout)", async () => {
  const small = await readMindsporeCkptFile(SMALL);
  assert.ok(Buffer.from(encodeMindsporeCkpt(small.entries, { sliceBytes: 64 })).equals(readFileSync(SMALL)), 'small fixture (64-byte slices)');
  const net = await readMindsporeCkptFile(NET);
  assert.is(net.crc, true);
  assert.ok(Buffer.from(encodeMindsporeCkpt(net.entries, { crc: true })).equals(readFileSync(NET)), 'ShuffleNet fixture with CRC');
});

test("crc32 is zlib's (Python's binascii.crc32 of b'123456789' is 0xcbf43926)", () => {
  assert.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.is(crc32(new TextEncoder().encode('6789'), crc32(new TextEncoder().encode('12345'))), 0xcbf43926, 'chained');
});

test('packed dims (proto3 writers) and the old Uint8 spelling are read (catches a parser that only knows one form)', () => {
  const packed = ld(2, [...ld(1, [2, 3]), ...ld(2, utf8('Float32')), ...ld(3, f32(1, 2, 3, 4, 5, 6))]);
  const f = decode(file(value(tagField('p'), packed), value(tagField('u'), tensorField([2], 'Uint8', [9, 8]))));
  assert.equal(f.entries[0]!.dims, [2, 3]);
  assert.equal(Array.from(msToFloat32(f.entries[0]!)), [1, 2, 3, 4, 5, 6]);
  assert.is(f.entries[1]!.type, 'UInt8');
  // a Value's fields in another order, and an unknown field, are still read
  const f2 = decode(file(value(tensorField([1], 'Float32', f32(5)), [0x20, 0x07], tagField('late'))));
  assert.is(f2.entries[0]!.tag, 'late');
});

test('damage is named by tag and byte offset (each check catches a reader that accepts or misreads it)', () => {
  const ok = value(tagField('a'), tensorField([2], 'Float32', f32(1, 2)));
  const small = readFileSync(SMALL);
  throwsWith(() => decode(small.subarray(0, 150)), /Value at byte \d+ \('w_sliced'\): its length \d+ \(at byte \d+\) runs past the end of the file at byte 150/);
  throwsWith(() => decode(file(ok, [0x0a, 0x85])), `truncated varint at byte ${ok.length + 1}`);
  throwsWith(() => decode(file(ok, value(tagField('b'), ld(2, [...ld(2, utf8('Float32')), 0x1a, 0x80])))), "truncated varint", "('b', Value at byte");
  throwsWith(() => decode(file(ok, value(tagField('c'), ld(2, [...ld(2, utf8('Float32')), 0x1a, 0x7f, 1, 2])))),
    `TensorProto.tensor_content: length 127`, "('c', Value at byte", 'runs past the end of the enclosing message');
  throwsWith(() => decode(file(ok, value(tagField('d'), tensorField([3, 5], 'Float32', f32(1, 2))))),
    `'d' (Value at byte ${ok.length + 2}): dims [3, 5] of Float32 need 60 bytes, its tensor_content holds 8`);
  throwsWith(() => decode(file(value(tagField('e'), tensorField([1], 'Float8', [1])))), "'e' (Value at byte 2): unknown tensor_type 'Float8'");
  throwsWith(() => decode(file(ok, value(tagField('f')))), `'f' (Value at byte ${ok.length + 2}) has no tensor`);
  throwsWith(() => decode(file(value(tagField('m'), ld(3, [0x0a, 0])))), "'m' (Value at byte 2) is a MapParameter");
  throwsWith(() => decode(file(value(tensorField([1], 'Float32', f32(1))))), 'Value at byte 2 has no tag');
  throwsWith(() => decode(file(value(tagField('g'), ld(2, ld(3, f32(1)))))), "tensor has no tensor_type (required field 2) at byte 2 ('g'");
  const h = value(tagField('h'), tensorField([1], 'Float32', f32(1)));
  throwsWith(() => decode(file(ok, h, ok)), `'a' (Value at byte ${ok.length + h.length + 2}): tag already seen at byte 2`);
  throwsWith(() => decode(file(ok, value(tagField('a'), tensorField([3], 'Float32', f32(1))))), `'a' (Value at byte 2): slice at byte ${ok.length + 2} is Float32 [3], the first slice Float32 [2]`);
  throwsWith(() => decode(file(value(tagField('s'), tensorField([0], 'str', [1, 2, 3])))), "'s' (Value at byte 2): a str value holds UTF-32 text, but its 3 bytes are not a multiple of 4");
  throwsWith(() => decode(file(ok, [0x0b])), `invalid wire type 3 (field 1) at byte ${ok.length}`);
});

test('CRC trailer: verified whenever present; a flipped bit anywhere is refused (catches skipping the check or the wrong CRC)', () => {
  const good = readFileSync(NET);
  for (const at of [100, good.length >> 1, good.length - 18, good.length - 1]) {
    const bad = Uint8Array.from(good);
    bad[at] = bad[at]! ^ 0x10;
    throwsWith(() => decodeMindsporeCkpt(bad, 'x.ckpt'), `x.ckpt: CRC-32 check failed: the trailer at byte ${good.length - 17} records`, 'the file is damaged');
  }
});

test('encrypted files and other formats are recognised and refused clearly', () => {
  for (const [magic, mode] of [[0x7f3a5ed8, 'AES-GCM'], [0x7f3a5ed9, 'AES-CBC'], [0x7f3a5eda, 'SM4-CBC']] as const) {
    const b = new Uint8Array(64);
    new DataView(b.buffer).setUint32(0, magic, true);
    throwsWith(() => decode(b), `x.ckpt: encrypted MindSpore checkpoint (${mode}, saved with enc_key)`, 'dec_key');
  }
  throwsWith(() => decode(readFileSync(NET_ST)), 'looks like a safetensors checkpoint');
  throwsWith(() => decode(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0])), 'looks like a PNG image');
  throwsWith(() => decode(new Uint8Array(0)), 'empty file');
});

test('writes are atomic: a failed encode or write leaves the previous file and no temporary file', async () => {
  const path = join(dir, 'atomic.ckpt');
  await writeMindsporeCkptFile(path, [msFloat32('a', [2], [1, 2])]);
  const before = readFileSync(path);
  await rejectsWith(writeMindsporeCkptFile(path, [msFloat32('a', [2], [1, 2]), msFloat32('a', [1], [3])]), "tag 'a' given twice");
  const wrong: MsEntry = { tag: 'w', type: 'Float32', dims: [3], content: new Uint8Array(4) };
  await rejectsWith(writeMindsporeCkptFile(path, [wrong]), "'w': dims [3] of Float32 need 12 bytes, content has 4");
  writeFileSync(join(dir, 'blocker'), '');
  await rejectsWith(writeMindsporeCkptFile(join(dir, 'blocker', 'x.ckpt'), [msFloat32('a', [1], [1])]), /ENOTDIR|EEXIST/);
  assert.ok(readFileSync(path).equals(before), 'previous file intact');
  assert.equal(readdirSync(dir).filter((n) => n.includes('.tmp')), []);
});

// ---------------------------------------------------------------------------------------
// ShuffleNetV1 names

test('layout: the mapped names and shapes are the model state dict, for every group and two sizes (catches drift from model/shufflenet.ts)', () => {
  const cases: [ModelSize, Group][] = [...GROUPS.map((g) => ['0.5x', g] as [ModelSize, Group]), ['1.0x', 8]];
  for (const [size, group] of cases) {
    const m = new ShuffleNetV1({ size, group, classes: 7 });
    const sd = [...m.stateDict()].map(([k, t]) => `${k} ${t.shape.join('x')}`);
    const layout = mindsporeLayout(m.config);
    assert.equal(layout.map((s) => `${s.name} ${s.shape.join('x')}`), sd, `${size} g=${group}`);
    assert.equal(layout.filter((s) => s.param).map((s) => s.name), m.parameters().map((p) => p.name), `${size} g=${group} parameters`);
    m.dispose();
    const convs = layout.filter((s) => s.tags.length > 1 || s.tags[0]!.includes('.convs.'));
    assert.is(convs.length, 32, 'two GroupConvs per unit');
    assert.equal(convs[0]!.tags, ['features.0.branch_main_1.0.convs.0.weight'], "the first unit's branch_main_1 has one group");
    assert.is(convs[1]!.tags.length, group);
  }
});

test('the protobuf-made .ckpt reads as the safetensors fixture it was made from: every tensor bit for bit, momenta, inferred config', async () => {
  const ck = await readCheckpoint(NET);
  const fx = await readCheckpointTensors(NET_ST);
  assert.equal({ ...ck.config }, { size: '0.5x', group: 3, classes: 10, imageSize: 224, stem: 'imagenet' });
  assert.is(ck.format, 'mindspore');
  assert.equal([...ck.state.keys()].sort(), [...fx.params.keys()].sort());
  for (const [k, t] of fx.params) {
    assert.equal(ck.state.get(k)!.shape, t.shape, k);
    assert.ok(Buffer.from((ck.state.get(k)!.data as Float32Array).buffer).equals(Buffer.from((t.data as Float32Array).buffer)), `${k} bit for bit`);
  }
  assert.equal([...ck.momenta.keys()].sort(), fx.names('grad.'));
  for (const k of fx.names('grad.')) assert.equal(Array.from(ck.momenta.get(k)!.data), Array.from(Float32Array.from(fx.get(`grad.${k}`).data)), `moments of ${k}`);
  assert.ok(ck.notes.some((n) => n.includes('records no stem') && n.includes('--stem cifar')), 'says the stem was assumed');
  assert.ok(ck.notes.some((n) => n.includes('not carried over: learning_rate, momentum, global_step')), 'names the training state left behind');
  const cifar = await readCheckpoint(NET, { mindspore: { stem: 'cifar', imageSize: 64 } });
  assert.equal([cifar.config.stem, cifar.config.imageSize, cifar.notes.some((n) => n.includes('records no stem'))], ['cifar', 64, false]);
});

test('logits of the model loaded from the .ckpt equal those from the safetensors fixture, and PyTorch\'s (catches a wrong group split or BN mapping)', async () => {
  const fx = await readCheckpointTensors(NET_ST);
  const a = new ShuffleNetV1(fx.config);
  a.loadStateDict(fx.params);
  const { model: b } = await loadCheckpoint(NET);
  const x = Tensor.from(fx.get('input').data, fx.get('input').shape);
  const run = async (m: ShuffleNetV1) => { const y = noGrad(() => m.eval().forward(x)); const v = await y.read(); y.dispose(); return v; };
  const ya = await run(a), yb = await run(b);
  assert.equal(Array.from(yb), Array.from(ya), 'same weights, same kernels: the same logits');
  expectClose(yb, fx.get('eval.logits').data, 1e-4, 'eval logits vs the PyTorch twin');
  for (const t of [a, b, x]) t.dispose();
});

test('mapping failures list every tag at fault: missing, unmapped, wrong shape, incomplete momenta; and no configuration fits', async () => {
  const net = await readMindsporeCkptFile(NET);
  const cfg = { size: '0.5x', group: 3, classes: 10 } as const;
  const drop = 'features.3.branch_main_2.2.convs.1.weight';
  const entries = net.entries.filter((e) => e.tag !== drop && e.tag !== `moments.${drop}`)
    .map((e) => (e.tag === 'classifier.bias' ? { ...e, dims: [5, 2] } : e));
  entries.push(msFloat32('head.extra.weight', [2], [1, 2]), msFloat32(`moments.${drop.replace('convs.1', 'convs.9')}`, [1], [0]));
  throwsWith(() => fromMindspore(entries.filter((e) => e.tag !== 'moments.features.5.branch_main_1.0.convs.2.weight'), cfg, 'x.ckpt'),
    'x.ckpt: checkpoint does not match ShuffleNetV1 0.5x g=3 with 10 classes',
    `missing tags (1): ${drop}`,
    'tags that map to no tensor of the model (2): head.extra.weight, moments.features.3.branch_main_2.2.convs.9.weight\n',
    /classifier\.bias \(byte \d+\): expected \[10\], got \[5, 2\]/,
    'incomplete momenta (2)', 'features.3.branch_main_2.2.weight: has 2 of moments.features.3.branch_main_2.2.convs.0.weight',
    'features.5.branch_main_1.0.weight: has 2 of moments.features.5.branch_main_1.0.convs.0.weight');
  const path = join(dir, 'partial.ckpt');
  await writeMindsporeCkptFile(path, net.entries.filter((e) => e.tag.startsWith('first_conv') || e.tag.startsWith('classifier')));
  await rejectsWith(readCheckpoint(path), `${path}: the tensors fit no ShuffleNetV1 configuration`, 'the closest, 0.5x g=3 with 10 classes', 'missing (');
  await rejectsWith(readCheckpoint(path, { mindspore: { group: 8 } }), '(given group 8)');
  await writeMindsporeCkptFile(path, [msFloat32('fc.weight', [2, 3], [1, 2, 3, 4, 5, 6])]);
  await rejectsWith(readCheckpoint(path), "no 2-D 'classifier.weight'", 'tags: fc.weight');
  const f64 = net.entries.map((e) => (e.tag === 'classifier.bias' ? { ...e, type: 'Int32' as const } : e));
  throwsWith(() => fromMindspore(f64, cfg, 'x.ckpt'), /classifier\.bias \(byte \d+\): is Int32; model tensors must be Float32/);
});

test('round trips: .ckpt -> .safetensors -> .ckpt keep weights and momenta; our .ckpt records the configuration (cifar stem kept)', async () => {
  const st = join(dir, 'rt.safetensors'), ck2 = join(dir, 'rt.ckpt');
  const a = await readCheckpoint(NET);
  await writeCheckpointFile(st, a);
  const b = await readCheckpoint(st);
  assert.equal({ ...b.config }, { ...a.config });
  for (const [k, t] of a.state) assert.equal(Array.from(b.state.get(k)!.data), Array.from(t.data), k);
  for (const [k, t] of a.momenta) assert.equal(Array.from(b.momenta.get(k)!.data), Array.from(t.data), `momentum ${k}`);

  b.config = { ...b.config, stem: 'cifar', imageSize: 32 };
  b.training = { step: 3 };
  await writeCheckpointFile(ck2, b, { crc: true });
  const raw = await readMindsporeCkptFile(ck2);
  assert.is(raw.crc, true);
  assert.equal(JSON.parse(msTextOf(raw.entries.find((e) => e.tag === MS_CONFIG_TAG)!)).stem, 'cifar');
  // every weight and moment under the same tag and with the same bytes as the protobuf-made file
  const theirs = new Map((await readMindsporeCkptFile(NET)).entries.map((e) => [e.tag, e]));
  const ours = raw.entries.filter((e) => e.tag !== MS_CONFIG_TAG);
  assert.equal(ours.map((e) => e.tag).sort(), [...theirs.keys()].filter((t) => !['learning_rate', 'momentum', 'global_step'].includes(t)).sort());
  for (const e of ours) assert.ok(Buffer.from(e.content).equals(Buffer.from(theirs.get(e.tag)!.content)) && e.dims.join() === theirs.get(e.tag)!.dims.join(), e.tag);
  const c = await readCheckpoint(ck2);
  assert.equal([c.config.stem, c.config.imageSize, c.notes], ['cifar', 32, []]);
  assert.is(c.training, null, 'the training record stays behind');
  await rejectsWith(readCheckpoint(ck2, { mindspore: { stem: 'imagenet' } }), `${ck2}: records stem cifar; the given stem imagenet disagrees`);
  // a state that is not the model's is refused in either format, before anything is written
  const partial = new Map([...c.state].filter(([k]) => k !== 'classifier.bias'));
  for (const out of [join(dir, 'bad.safetensors'), join(dir, 'bad.ckpt')]) {
    await rejectsWith(writeCheckpointFile(out, { ...c, state: partial }), `${out}: does not match ShuffleNetV1 0.5x g=3 with 10 classes:\n  missing classifier.bias`);
    assert.not.ok(existsSync(out), `${out} not written`);
  }
  writeFileSync(join(dir, 'named-wrong.safetensors'), readFileSync(ck2));
  await rejectsWith(readCheckpoint(join(dir, 'named-wrong.safetensors')), 'looks like a MindSpore checkpoint (give it the .ckpt extension');
});

test.run();
