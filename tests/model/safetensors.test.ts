// Tests for the safetensors reader/writer: round trips, spec-layout interop, strict
// rejection of malformed files, and atomic file writes.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_HEADER_BYTES, checkTensorSet, decodeSafetensors, encodeSafetensors, type StTensor } from '../../model/safetensors.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../../train/checkpoint_io.ts';

/** Assemble a file byte by byte, independently of the encoder: u64 LE length, header, data. */
function rawFile(header: string, data: number[] | Uint8Array, headerLen?: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const n = headerLen ?? h.length;
  const out = new Uint8Array(8 + h.length + data.length);
  let v = BigInt(n);
  for (let i = 0; i < 8; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function throwsWith(fn: () => unknown, ...parts: string[]): void {
  try {
    fn();
  } catch (e) {
    const msg = (e as Error).message;
    for (const p of parts) assert.ok(msg.includes(p), `expected message to include ${JSON.stringify(p)}, got: ${msg}`);
    return;
  }
  assert.unreachable('expected an error');
}

async function rejectsWith(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  try {
    await p;
  } catch (e) {
    const msg = (e as Error).message;
    for (const part of parts) assert.ok(msg.includes(part), `expected message to include ${JSON.stringify(part)}, got: ${msg}`);
    return;
  }
  assert.unreachable('expected a rejection');
}

function sample(): Record<string, StTensor> {
  return {
    'conv.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, -0, 1e-30]) },
    half: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7c00]) },
    dbl: { dtype: 'F64', shape: [1, 1, 2], data: new Float64Array([Math.PI, -1e300]) },
    steps: { dtype: 'I64', shape: [], data: new BigInt64Array([-(2n ** 62n) - 7n]) },
    idx: { dtype: 'I32', shape: [4], data: new Int32Array([-1, 0, 2 ** 31 - 1, -(2 ** 31)]) },
    bytes: { dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 127, 128, 255]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    bn_rm: { dtype: 'BF16', shape: [1], data: new Uint16Array([0x3f80]) },
  };
}

function headerLenOf(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
}

// ---------------------------------------------------------------------------------------
// Round trip and layout

test('round trip: dtypes, shapes (scalar, empty), metadata', () => {
  const tensors = sample();
  const meta = { format: 'pt', epoch: '12', note: 'ünïcode ✓' };
  const { tensors: got, metadata } = decodeSafetensors(encodeSafetensors(tensors, meta));
  assert.equal(metadata, meta);
  assert.equal(Object.keys(got).sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const g = got[name]!;
    assert.is(g.dtype, t.dtype, name);
    assert.equal(g.shape, t.shape, name);
    assert.is(g.data.constructor, t.data.constructor, name);
    assert.equal(Array.from(g.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), name);
  }
  // -0 must survive bit-exactly.
  assert.ok(Object.is((got['conv.weight']!.data as Float32Array)[4], -0));
});

test('no metadata decodes to an empty object; no tensors is a valid file', () => {
  const out = decodeSafetensors(encodeSafetensors({}));
  assert.equal(out, { tensors: {}, metadata: {} });
});

test('output is deterministic regardless of insertion order', () => {
  const a = sample();
  const b = Object.fromEntries(Object.entries(a).reverse());
  const ea = encodeSafetensors(a, { x: '1', y: '2' });
  const eb = encodeSafetensors(b, { y: '2', x: '1' });
  assert.equal(Buffer.from(ea).equals(Buffer.from(eb)), true);
  assert.equal(Buffer.from(ea).equals(Buffer.from(encodeSafetensors(sample(), { x: '1', y: '2' }))), true);
});

test('header is space-padded so the data section is 8-byte aligned; data sorted by name', () => {
  for (const meta of [undefined, { a: '' }, { a: 'xy' }, { a: 'xyz' }, { a: 'abcdefg' }]) {
    const bytes = encodeSafetensors(sample(), meta);
    const n = headerLenOf(bytes);
    assert.is((8 + n) % 8, 0, `data start for ${JSON.stringify(meta)}`);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.ok(/^\{.*\} *$/.test(text), text);
  }
  const header = JSON.parse(new TextDecoder().decode(encodeSafetensors(sample()).subarray(8, 8 + headerLenOf(encodeSafetensors(sample())))));
  const names = Object.keys(header).sort((x, y) => header[x].data_offsets[0] - header[y].data_offsets[0] || header[x].data_offsets[1] - header[y].data_offsets[1]);
  // 'empty' has zero bytes so it may tie with its successor; compare the non-empty order.
  const nonEmpty = names.filter((k) => header[k].data_offsets[0] !== header[k].data_offsets[1]);
  assert.equal(nonEmpty, [...nonEmpty].sort());
});

test('decodes from an unaligned view into aligned typed arrays', () => {
  const bytes = encodeSafetensors(sample());
  const backing = new Uint8Array(bytes.length + 3);
  backing.set(bytes, 3);
  const view = backing.subarray(3);
  const got = decodeSafetensors(view).tensors;
  assert.equal(Array.from(got['dbl']!.data as Float64Array), [Math.PI, -1e300]);
  // The result must not alias the input buffer.
  assert.is.not(got['dbl']!.data.buffer, backing.buffer);
});

test('integer-like tensor names keep sorted order in header and data', () => {
  const t = (v: number): StTensor => ({ dtype: 'F32', shape: [1], data: new Float32Array([v]) });
  const bytes = encodeSafetensors({ b: t(2), '10': t(10), a: t(1), '2': t(20) });
  const n = headerLenOf(bytes);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n)).trimEnd();
  assert.equal(text.indexOf('"10"') < text.indexOf('"2"') && text.indexOf('"2"') < text.indexOf('"a"'), true, text);
  const data = new Float32Array(bytes.slice(8 + n).buffer);
  assert.equal(Array.from(data), [10, 20, 1, 2]);
});

// ---------------------------------------------------------------------------------------
// Interoperability: the exact spec layout, built by hand

test('hand-built spec file decodes (unsorted header, odd header length, unaligned data)', () => {
  // Offsets deliberately not in header order, and no padding: data starts at byte 8 + odd.
  const header =
    '{"__metadata__":{"format":"pt"},' +
    '"w":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},' +
    '"h":{"dtype":"F16","shape":[1,2],"data_offsets":[8,12]},' +
    '"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
    '"e":{"dtype":"I32","shape":[0],"data_offsets":[20,20]},' +
    '"u":{"dtype":"U8","shape":[3],"data_offsets":[20,23]}}';
  // Pad (legal JSON whitespace) so the data section starts at an address that is 1 mod 4.
  const padded = header + ' '.repeat((1 - (header.length % 4) + 4) % 4);
  assert.is((8 + padded.length) % 4, 1);
  const data = [
    ...[0x02, 0x01, 0, 0, 0, 0, 0, 0], // n: I64 258
    ...[0x00, 0x3c, 0x00, 0xc0], // h: F16 1.0, -2.0
    ...[0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0], // w: F32 1.0, -2.0
    ...[7, 8, 9], // u
  ];
  const { tensors, metadata } = decodeSafetensors(rawFile(padded, data));
  assert.equal(metadata, { format: 'pt' });
  assert.equal(tensors['n'], { dtype: 'I64', shape: [], data: new BigInt64Array([258n]) });
  assert.equal(tensors['h'], { dtype: 'F16', shape: [1, 2], data: new Uint16Array([0x3c00, 0xc000]) });
  assert.equal(tensors['w'], { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) });
  assert.equal(tensors['e'], { dtype: 'I32', shape: [0], data: new Int32Array(0) });
  assert.equal(tensors['u'], { dtype: 'U8', shape: [3], data: new Uint8Array([7, 8, 9]) });
});

test('encoder output matches the spec layout byte for byte', () => {
  const bytes = encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) } }, { format: 'pt' });
  const json = '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
  const expected = rawFile(padded, [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
  assert.equal(Array.from(bytes), Array.from(expected));
});

// ---------------------------------------------------------------------------------------
// Malformed files

const GOOD = encodeSafetensors(
  { a: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }, b: { dtype: 'U8', shape: [4], data: new Uint8Array(4) } },
  { k: 'v' },
);
const GOOD_N = headerLenOf(GOOD);

test('truncated: shorter than the length prefix', () => {
  throwsWith(() => decodeSafetensors(GOOD.subarray(0, 5), 'ck.st'), 'ck.st: ', 'truncated', '[0, 8)', '5 bytes');
});

test('truncated: cut inside the header', () => {
  const cut = GOOD.subarray(0, 8 + 10);
  throwsWith(() => decodeSafetensors(cut, 'ck.st'), 'ck.st: ', 'truncated', `[8, ${8 + GOOD_N})`, '18 bytes');
});

test('truncated: cut inside the data', () => {
  const cut = GOOD.subarray(0, GOOD.length - 2);
  // Data: a = [0, 16), b = [16, 20); the cut hits b.
  throwsWith(
    () => decodeSafetensors(cut, 'ck.st'),
    'ck.st: ',
    'truncated',
    "tensor 'b'",
    '[16, 20)',
    `[${8 + GOOD_N + 16}, ${8 + GOOD_N + 20})`,
    `${cut.length} bytes`,
  );
});

test('header length larger than the file', () => {
  const f = rawFile('{}', [], 1000);
  throwsWith(() => decodeSafetensors(f, 'x'), 'x: ', 'truncated', '[8, 1008)', '10 bytes');
});

test('oversized header length is rejected before allocation', () => {
  const f = rawFile('{}', [], MAX_HEADER_BYTES + 1);
  throwsWith(() => decodeSafetensors(f, 'x'), 'x: ', String(MAX_HEADER_BYTES + 1), `limit of ${MAX_HEADER_BYTES}`);
  const huge = new Uint8Array(16).fill(0xff); // u64 max
  throwsWith(() => decodeSafetensors(huge, 'x'), '18446744073709551615', String(MAX_HEADER_BYTES));
});

test('non-object or invalid JSON header', () => {
  throwsWith(() => decodeSafetensors(rawFile('[1,2]   ', []), 'f'), 'f: ', 'JSON object', 'array');
  throwsWith(() => decodeSafetensors(rawFile('null    ', []), 'f'), 'f: ', 'JSON object');
  throwsWith(() => decodeSafetensors(rawFile('"str"   ', []), 'f'), 'f: ', 'JSON object');
  throwsWith(() => decodeSafetensors(rawFile('{"a":   ', []), 'f'), 'f: ', 'not valid JSON', '[8, 16)');
  const badUtf8 = rawFile('{"a":1}', []);
  badUtf8[9] = 0xff;
  throwsWith(() => decodeSafetensors(badUtf8, 'f'), 'f: ', 'UTF-8');
});

test('metadata values must be strings', () => {
  throwsWith(() => decodeSafetensors(rawFile('{"__metadata__":{"epoch":3}}', []), 'f'), 'f: ', "'epoch'");
  throwsWith(() => decodeSafetensors(rawFile('{"__metadata__":["x"]}', []), 'f'), 'f: ', '__metadata__');
  throwsWith(() => encodeSafetensors({}, { epoch: 3 as unknown as string }), "'epoch'");
});

const entry = (name: string, dtype: string, shape: unknown, offs: unknown) =>
  `${JSON.stringify(name)}:{"dtype":${JSON.stringify(dtype)},"shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offs)}}`;

test('unknown dtype', () => {
  const f = rawFile(`{${entry('w', 'F8_E4M3', [2], [0, 2])}}`, [0, 0]);
  throwsWith(() => decodeSafetensors(f, 'f'), 'f: ', "tensor 'w'", 'unknown dtype', 'F8_E4M3');
});

test('bad shape / offsets types', () => {
  const cases: [unknown, unknown, string][] = [
    [[-1], [0, 0], 'shape'],
    [[1.5], [0, 0], 'shape'],
    ['2', [0, 8], 'shape'],
    [[2], [0, 8.5], 'data_offsets'],
    [[2], [0], 'data_offsets'],
    [[2], ['0', '8'], 'data_offsets'],
    [[2], [-8, 0], 'data_offsets'],
  ];
  for (const [shape, offs, word] of cases) {
    const f = rawFile(`{${entry('w', 'F32', shape, offs)}}`, new Uint8Array(8));
    throwsWith(() => decodeSafetensors(f, 'f'), 'f: ', "tensor 'w'", word);
  }
  throwsWith(() => decodeSafetensors(rawFile('{"w":[1]}', []), 'f'), "tensor 'w'", 'object');
  const extra = rawFile('{"w":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"eval":"x"}}', []);
  throwsWith(() => decodeSafetensors(extra, 'f'), "tensor 'w'", "'eval'");
});

test('offsets: begin > end', () => {
  const f = rawFile(`{${entry('w', 'U8', [0], [4, 0])}}`, new Uint8Array(4));
  throwsWith(() => decodeSafetensors(f, 'f'), 'f: ', "tensor 'w'", '[4, 0)', 'begin > end');
});

test('offsets: end past the data section', () => {
  const f = rawFile(`{${entry('w', 'F32', [4], [0, 16])}}`, new Uint8Array(8));
  throwsWith(() => decodeSafetensors(f, 'f'), 'f: ', "tensor 'w'", '[0, 16)');
});

test('offsets: size does not match dtype x shape', () => {
  const f = rawFile(`{${entry('w', 'F32', [3], [0, 8])}}`, new Uint8Array(8));
  throwsWith(() => decodeSafetensors(f, 'f'), 'f: ', "tensor 'w'", '[0, 8)', '8 bytes', 'needs 12 bytes');
  const big = rawFile(`{${entry('w', 'F64', [2 ** 40, 2 ** 40], [0, 8])}}`, new Uint8Array(8));
  throwsWith(() => decodeSafetensors(big, 'f'), "tensor 'w'", 'too many');
});

test('offsets: overlapping tensors', () => {
  const f = rawFile(`{${entry('a', 'F32', [2], [0, 8])},${entry('b', 'F32', [2], [4, 12])}}`, new Uint8Array(12));
  throwsWith(() => decodeSafetensors(f, 'f'), 'f: ', "'a'", "'b'", '[0, 8)', '[4, 12)', 'overlaps');
  const same = rawFile(`{${entry('a', 'F32', [2], [0, 8])},${entry('b', 'F32', [2], [0, 8])}}`, new Uint8Array(8));
  throwsWith(() => decodeSafetensors(same, 'f'), 'overlaps', "'a'", "'b'");
});

test('holes in the data section', () => {
  const f = rawFile(`{${entry('a', 'F32', [1], [0, 4])},${entry('b', 'F32', [1], [8, 12])}}`, new Uint8Array(12));
  throwsWith(() => decodeSafetensors(f, 'f'), 'f: ', '[4, 8)', "'b'", 'not covered');
});

test('trailing bytes after the last tensor', () => {
  const f = new Uint8Array(GOOD.length + 3);
  f.set(GOOD);
  const d = 8 + GOOD_N;
  throwsWith(() => decodeSafetensors(f, 'f'), 'f: ', 'trailing', '[20, 23)', `[${d + 20}, ${d + 23})`);
  throwsWith(() => decodeSafetensors(rawFile('{}', [1]), 'f'), 'trailing', '[0, 1)');
});

test('a "__proto__" tensor name is an ordinary entry', () => {
  const f = rawFile(`{${entry('__proto__', 'U8', [1], [0, 1])}}`, [5]);
  const { tensors } = decodeSafetensors(f);
  assert.ok(Object.hasOwn(tensors, '__proto__'));
  assert.is(Object.getPrototypeOf(tensors), Object.prototype);
});

test('encoder rejects inconsistent tensors', () => {
  throwsWith(() => encodeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), "'w'", '[3]', '3 elements', '2');
  throwsWith(
    () => encodeSafetensors({ w: { dtype: 'F16', shape: [2], data: new Float32Array(2) as unknown as Uint16Array } }),
    "'w'",
    'Uint16Array',
  );
  throwsWith(() => encodeSafetensors({ w: { dtype: 'F32', shape: [-2], data: new Float32Array(0) } }), "'w'", 'shape');
  throwsWith(() => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), '__metadata__');
});

// ---------------------------------------------------------------------------------------
// Strict loading

test('checkTensorSet: accepts an exact match', () => {
  checkTensorSet({ a: [2, 2], b: [4] }, decodeSafetensors(GOOD).tensors, 'ck');
});

test('checkTensorSet: lists missing, unexpected and mis-shaped tensors by name', () => {
  const got = decodeSafetensors(GOOD).tensors; // a: [2, 2], b: [4]
  throwsWith(
    () => checkTensorSet({ a: [4, 1], c: [1], d: [] }, got, 'ck.safetensors'),
    'ck.safetensors: ',
    'missing tensors (2): c, d',
    'unexpected tensors (1): b',
    'a: expected [4, 1], got [2, 2]',
  );
  throwsWith(() => checkTensorSet({ a: [2, 2], b: [4, 1] }, got, 'ck'), 'b: expected [4, 1], got [4]');
  throwsWith(() => checkTensorSet({ a: [2, 2] }, got, 'ck'), 'unexpected', 'b');
  throwsWith(() => checkTensorSet({ a: [2, 2], b: [4], toString: [1] }, got, 'ck'), 'missing', 'toString');
});

// ---------------------------------------------------------------------------------------
// Files

function withTmp(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const one = (v: number): Record<string, StTensor> => ({ w: { dtype: 'F32', shape: [1], data: new Float32Array([v]) } });

test(
  'write/read round trip; parent dirs created; no temp files left',
  withTmp(async (dir) => {
    const path = join(dir, 'a', 'b', 'ck.safetensors');
    await writeSafetensorsFile(path, sample(), { epoch: '1' });
    assert.equal(readdirSync(join(dir, 'a', 'b')), ['ck.safetensors']);
    assert.equal(Array.from(readFileSync(path)), Array.from(encodeSafetensors(sample(), { epoch: '1' })));
    const { tensors, metadata } = await readSafetensorsFile(path);
    assert.equal(metadata, { epoch: '1' });
    assert.equal(tensors['idx'], sample()['idx']);
  }),
);

test(
  'writing over an existing file replaces it',
  withTmp(async (dir) => {
    const path = join(dir, 'ck.safetensors');
    await writeSafetensorsFile(path, one(1));
    await writeSafetensorsFile(path, one(2), { v: '2' });
    assert.equal(readdirSync(dir), ['ck.safetensors']);
    const { tensors, metadata } = await readSafetensorsFile(path);
    assert.equal(Array.from(tensors['w']!.data as Float32Array), [2]);
    assert.equal(metadata, { v: '2' });
  }),
);

test(
  'failed rename (target is a directory) removes the temp file',
  withTmp(async (dir) => {
    const path = join(dir, 'ck.safetensors');
    mkdirSync(path);
    writeFileSync(join(path, 'keep'), 'x');
    await rejectsWith(writeSafetensorsFile(path, one(1)));
    assert.equal(readdirSync(dir), ['ck.safetensors']);
    assert.equal(readdirSync(path), ['keep']);
  }),
);

test(
  'failed write (parent path is a file) leaves existing files intact and no temp file',
  withTmp(async (dir) => {
    const old = join(dir, 'ck.safetensors');
    await writeSafetensorsFile(old, one(1));
    const before = readFileSync(old);
    await rejectsWith(writeSafetensorsFile(join(old, 'nested.safetensors'), one(2)));
    assert.equal(readdirSync(dir), ['ck.safetensors']);
    assert.equal(readFileSync(old).equals(before), true);
  }),
);

test(
  'failed encode leaves the old file intact and no temp file',
  withTmp(async (dir) => {
    const path = join(dir, 'ck.safetensors');
    await writeSafetensorsFile(path, one(1));
    const before = readFileSync(path);
    const bad = { w: { dtype: 'F32', shape: [5], data: new Float32Array(1) } } as Record<string, StTensor>;
    await rejectsWith(writeSafetensorsFile(path, bad), "'w'");
    assert.equal(readdirSync(dir), ['ck.safetensors']);
    assert.equal(readFileSync(path).equals(before), true);
  }),
);

test(
  'read: missing file, unreadable path, corrupt file name the path',
  withTmp(async (dir) => {
    const missing = join(dir, 'nope.safetensors');
    await rejectsWith(readSafetensorsFile(missing), `checkpoint not found: ${missing}`);
    await rejectsWith(readSafetensorsFile(dir), `${dir}: cannot read checkpoint`);
    const corrupt = join(dir, 'bad.safetensors');
    writeFileSync(corrupt, GOOD.subarray(0, GOOD.length - 1));
    await rejectsWith(readSafetensorsFile(corrupt), `${corrupt}: truncated`, "tensor 'b'");
  }),
);

test.run();
