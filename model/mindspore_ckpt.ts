// MindSpore checkpoint (.ckpt) files: the container format only (model/mindspore_names.ts maps the
// tensors onto ShuffleNetV1). Schema, mindspore/ccsrc/utils/checkpoint.proto (proto2):
//   message Checkpoint { message Value { required string tag = 1; TensorProto tensor = 2; }  repeated Value value = 1; }
//   message TensorProto { repeated int64 dims = 1; required string tensor_type = 2; required bytes tensor_content = 3; }
// save_checkpoint serializes one Checkpoint per parameter slice and concatenates them (protobuf merges
// concatenated messages, so the file parses as one Checkpoint); a parameter over 512 MiB comes as
// several consecutive Values with the same tag and the full dims, whose contents concatenate.
// tensor_content is the C-order little-endian array; tensor_type is str() of the MindSpore dtype
// (Float32, Float16, Int32, UInt8, ...; older releases spell Uint8). A 'str' value (a string of
// append_dict) has dims [0] and the text as numpy's UTF-32LE. Newer releases put `tensor` in a oneof
// with `maptensor = 3` (MapParameter slices): refused, naming the tag.
// Trailer of save_checkpoint(crc_check=True): b'crc_num' and the CRC-32 (zlib's) of every byte before
// it, as 10 bytes big-endian; verified whenever present. Encrypted files (enc_key) are blocks that each
// start with a little-endian u32 magic (0x7F3A5ED8 AES-GCM, 0x7F3A5ED9 AES-CBC, 0x7F3A5EDA SM4-CBC):
// recognised and refused.
// Why the wire format by hand: three messages with six fields, so a protobuf runtime and generated code
// would outweigh this file, and a hand parser can name the tag and byte offset of every fault. Written
// as protobuf serializes (fields in number order, proto2's repeated dims unpacked), so an encoding is
// byte-identical to MindSpore's (tests compare against files written by Python's protobuf).
import { otherFormat } from './safetensors.ts';

export class MindsporeCkptError extends Error {
  override name = 'MindsporeCkptError';
}

/** Bytes per element of each numeric tensor_type. */
export const MS_DTYPES = {
  Float16: 2, BFloat16: 2, Float32: 4, Float64: 8, Bool: 1,
  Int8: 1, Int16: 2, Int32: 4, Int64: 8, UInt8: 1, UInt16: 2, UInt32: 4, UInt64: 8,
} as const;
export type MsNumericType = keyof typeof MS_DTYPES;
/** 'str': a string (UTF-32LE); 'random_op': an older release's opaque RNG state. */
export type MsType = MsNumericType | 'str' | 'random_op';

/** Older releases' spellings. */
const ALIASES: Record<string, MsType> = { Uint8: 'UInt8', Uint16: 'UInt16', Uint32: 'UInt32', Uint64: 'UInt64' };

/** One parameter (its slices joined). `offset`: byte of its first Value in the file (decoded entries). */
export interface MsEntry { tag: string; type: MsType; dims: number[]; content: Uint8Array; offset?: number }

export interface MsFile {
  entries: MsEntry[];
  /** Whether a CRC trailer was present (and matched). */
  crc: boolean;
  /** Values in the file (more than entries when parameters are sliced). */
  values: number;
}

/** MindSpore's slice size: 1024 × SLICE_SIZE KiB = 512 MiB of tensor_content per Value. */
export const MS_SLICE_BYTES = 512 * 1024 * 1024;
const CRC_MARK = 'crc_num';
const TRAILER = CRC_MARK.length + 10;
const CIPHER_MAGIC: Record<number, string> = { 0x7f3a5ed8: 'AES-GCM', 0x7f3a5ed9: 'AES-CBC', 0x7f3a5eda: 'SM4-CBC' };
const VARINT = 0, I64 = 1, LEN = 2, I32 = 5;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------
// CRC-32 (zlib's, polynomial 0xEDB88320), as Python's binascii.crc32

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(b: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// ---------------------------------------------------------------------------------------
// Decoding

function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function canonicalType(t: string): MsType | null {
  if (Object.hasOwn(MS_DTYPES, t) || t === 'str' || t === 'random_op') return t as MsType;
  return ALIASES[t] ?? null;
}

interface RawValue { tag: string; offset: number; type: string; dims: number[]; content: Uint8Array }

/**
 * Parse .ckpt bytes. `source` (usually the path) prefixes every error, which names the byte offset
 * and, where known, the tag. Tensor contents are copied, so the result does not alias `bytes`.
 */
export function decodeMindsporeCkpt(bytes: Uint8Array, source = '<buffer>'): MsFile {
  function fail(msg: string): never { throw new MindsporeCkptError(`${source}: ${msg}`); }
  if (bytes.length === 0) fail('empty file, not a MindSpore checkpoint');
  if (bytes.length >= 4) {
    const magic = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
    if (CIPHER_MAGIC[magic]) {
      fail(`encrypted MindSpore checkpoint (${CIPHER_MAGIC[magic]}, saved with enc_key): it cannot be read without the key. ` +
        'Decrypt it in MindSpore (load_checkpoint(file, dec_key=..., dec_mode=...) then save_checkpoint without enc_key) and use that file');
    }
  }
  let end = bytes.length, crc = false;
  if (end >= TRAILER && String.fromCharCode(...bytes.subarray(end - TRAILER, end - 10)) === CRC_MARK) {
    let stored = 0n;
    for (const b of bytes.subarray(end - 10)) stored = (stored << 8n) | BigInt(b);
    const actual = crc32(bytes.subarray(0, end - TRAILER));
    if (stored !== BigInt(actual)) {
      fail(`CRC-32 check failed: the trailer at byte ${end - TRAILER} records ${stored}, the ${end - TRAILER} bytes before it give ${actual}; ` +
        'the file is damaged (cut short or altered): save or copy it again');
    }
    end -= TRAILER;
    crc = true;
  }
  if (bytes[0] !== 0x0a) {
    // safetensors: a u64 header length, then the JSON header's '{'
    const other = bytes[8] === 0x7b ? 'a safetensors checkpoint (give it the .safetensors extension)' : otherFormat(bytes);
    fail(other ? `looks like ${other}, not a MindSpore checkpoint`
      : `not a MindSpore checkpoint: byte 0 is 0x${bytes[0]!.toString(16).padStart(2, '0')}, a checkpoint starts with 0x0a (field 1, Checkpoint.value)`);
  }

  let pos = 0;
  /** Where the parser is, for messages: set while inside a Value. */
  let where = '';
  const at = (p: number) => `byte ${p}${where}`;
  const varint = (limit: number): number => {
    const start = pos;
    let v = 0, scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= limit) fail(`truncated varint at ${at(start)}: the ${limit === end ? 'file' : 'enclosing message'} ends at byte ${limit}`);
      const b = bytes[pos++]!;
      v += (b & 0x7f) * scale;
      scale *= 128;
      if (!(b & 0x80)) {
        if (!Number.isSafeInteger(v)) fail(`varint at ${at(start)} is ${v > 2 ** 63 ? 'negative or ' : ''}too large (${v})`);
        return v;
      }
    }
    return fail(`malformed varint at ${at(start)}: more than 10 bytes`);
  };
  /** The [begin, end) of a length-delimited field whose length varint starts at pos. */
  const span = (limit: number, what: string): [number, number] => {
    const lenAt = pos;
    const n = varint(limit);
    if (pos + n > limit) fail(`${what}: length ${n} at ${at(lenAt)} runs past the end of the enclosing message (byte ${limit})`);
    const s: [number, number] = [pos, pos + n];
    pos += n;
    return s;
  };
  const skip = (wire: number, limit: number, field: number, keyAt: number): void => {
    if (wire === VARINT) varint(limit);
    else if (wire === LEN) span(limit, `field ${field}`);
    else if (wire === I64 || wire === I32) {
      const n = wire === I64 ? 8 : 4;
      if (pos + n > limit) fail(`field ${field} at ${at(keyAt)}: ${n} bytes run past byte ${limit}`);
      pos += n;
    } else fail(`invalid wire type ${wire} (field ${field}) at ${at(keyAt)}: not a MindSpore checkpoint, or a damaged one`);
  };
  const text = ([a, b]: [number, number], what: string): string => {
    try { return utf8Strict.decode(bytes.subarray(a, b)); } catch { return fail(`${what} at ${at(a)} is not valid UTF-8`); }
  };

  const values: RawValue[] = [];
  while (pos < end) {
    const keyAt = pos;
    where = '';
    const key = varint(end);
    if (key !== ((1 << 3) | LEN)) { skip(key & 7, end, key >>> 3, keyAt); continue; }
    const lenAt = pos, n = varint(end);
    if (pos + n > end) {
      const tag = peekTag(pos);
      fail(`Value at byte ${pos}${tag === null ? '' : ` ('${tag}')`}: its length ${n} (at byte ${lenAt}) runs past the end of the file at byte ${end}: the file is cut short (or the length is damaged)`);
    }
    values.push(parseValue(pos, pos + n)); // leaves pos at the Value's end
  }
  if (!values.length) fail('holds no tensors');

  /** The tag of a Value cut short, if its first field is a complete tag (for the message). */
  function peekTag(p: number): string | null {
    if (bytes[p] !== ((1 << 3) | LEN)) return null;
    let n = 0, scale = 1, q = p + 1;
    for (; q < end && q < p + 6; q++) {
      n += (bytes[q]! & 0x7f) * scale;
      scale *= 128;
      if (!(bytes[q]! & 0x80)) break;
    }
    if (q >= end || q + 1 + n > end) return null;
    return new TextDecoder().decode(bytes.subarray(q + 1, q + 1 + n));
  }

  function parseValue(vb: number, ve: number): RawValue {
    pos = vb;
    where = ` (Value at byte ${vb})`;
    let tag: string | null = null, tensor: [number, number] | null = null, map = false;
    while (pos < ve) {
      const keyAt = pos;
      const key = varint(ve), field = key >>> 3, wire = key & 7;
      if (field === 1 && wire === LEN) {
        tag = text(span(ve, 'Value.tag'), 'Value.tag');
        where = ` ('${tag}', Value at byte ${vb})`;
      } else if (field === 2 && wire === LEN) tensor = span(ve, 'Value.tensor');
      else if (field === 3 && wire === LEN) { span(ve, 'Value.maptensor'); map = true; } else skip(wire, ve, field, keyAt);
    }
    if (tag === null) fail(`Value at byte ${vb} has no tag (required field 1)`);
    if (!tensor) {
      return fail(map ? `'${tag}' (Value at byte ${vb}) is a MapParameter (maptensor), which this reader does not support`
        : `'${tag}' (Value at byte ${vb}) has no tensor (field 2)`);
    }
    // the tensor is parsed after the tag, whichever came first on the wire, so its errors can name it
    const after = pos;
    pos = tensor[0];
    const t = parseTensor(tensor[1], vb);
    pos = after;
    return { tag, offset: vb, ...t };
  }

  function parseTensor(te: number, vb: number): { type: string; dims: number[]; content: Uint8Array } {
    const dims: number[] = [];
    let type: string | null = null, content: [number, number] | null = null;
    while (pos < te) {
      const keyAt = pos;
      const key = varint(te), field = key >>> 3, wire = key & 7;
      if (field === 1 && wire === VARINT) dims.push(varint(te));
      else if (field === 1 && wire === LEN) { // packed, as proto3 writers emit it
        const [a, b] = span(te, 'TensorProto.dims');
        pos = a;
        while (pos < b) dims.push(varint(b));
      } else if (field === 2 && wire === LEN) type = text(span(te, 'TensorProto.tensor_type'), 'TensorProto.tensor_type');
      else if (field === 3 && wire === LEN) content = span(te, 'TensorProto.tensor_content');
      else skip(wire, te, field, keyAt);
    }
    if (type === null) fail(`tensor has no tensor_type (required field 2) at ${at(vb)}`);
    if (content === null) return fail(`tensor has no tensor_content (required field 3) at ${at(vb)}`);
    return { type, dims, content: bytes.subarray(content[0], content[1]) };
  }

  // Join each run of consecutive Values with one tag (MindSpore's slices); a tag that comes back
  // later is not a slice: MindSpore would silently keep the last, so it is an error here.
  const entries: MsEntry[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < values.length;) {
    const first = values[i]!;
    let j = i + 1;
    while (j < values.length && values[j]!.tag === first.tag) j++;
    const run = values.slice(i, j);
    i = j;
    const name = `'${first.tag}' (Value at byte ${first.offset})`;
    if (seen.has(first.tag)) fail(`${name}: tag already seen at byte ${seen.get(first.tag)}, not as a consecutive slice`);
    seen.set(first.tag, first.offset);
    for (const v of run.slice(1)) {
      if (v.type !== first.type || v.dims.join() !== first.dims.join()) {
        fail(`${name}: slice at byte ${v.offset} is ${v.type} [${v.dims.join(', ')}], the first slice ${first.type} [${first.dims.join(', ')}]`);
      }
    }
    const type = canonicalType(first.type);
    if (!type) fail(`${name}: unknown tensor_type '${first.type}' (known: ${Object.keys(MS_DTYPES).join(', ')}, str)`);
    const size = run.reduce((a, v) => a + v.content.length, 0);
    const content = new Uint8Array(size);
    let o = 0;
    for (const v of run) { content.set(v.content, o); o += v.content.length; }
    let dims = first.dims;
    const slices = run.length > 1 ? ` in ${run.length} slices` : '';
    if (type === 'str') {
      if (size % 4) fail(`${name}: a str value holds UTF-32 text, but its ${size} bytes are not a multiple of 4`);
    } else if (type !== 'random_op') {
      const per = MS_DTYPES[type];
      // MindSpore's loader reads dims [0] of a number as a scalar
      if (dims.length === 1 && dims[0] === 0 && size === per) dims = [];
      const need = numel(dims) * per;
      if (size !== need) fail(`${name}: dims [${dims.join(', ')}] of ${type} need ${need} bytes, its tensor_content holds ${size}${slices}`);
    }
    entries.push({ tag: first.tag, type, dims: [...dims], content, offset: first.offset });
  }
  return { entries, crc, values: values.length };
}

// ---------------------------------------------------------------------------------------
// Encoding

function varintLen(v: number): number {
  let n = 1;
  while (v >= 128) { v = Math.floor(v / 128); n++; }
  return n;
}

/**
 * Serialize entries as save_checkpoint does: each slice of at most `sliceBytes` of content its own
 * Checkpoint message, then (with `crc`) the CRC trailer. Entries are written in the order given.
 */
export function encodeMindsporeCkpt(entries: readonly MsEntry[], opts: { crc?: boolean; sliceBytes?: number } = {}): Uint8Array {
  const sliceBytes = opts.sliceBytes ?? MS_SLICE_BYTES;
  if (!(Number.isSafeInteger(sliceBytes) && sliceBytes > 0)) throw new MindsporeCkptError(`encode: sliceBytes must be a positive integer, got ${sliceBytes}`);
  const seen = new Set<string>();
  type Plan = { tag: Uint8Array; type: Uint8Array; dims: number[]; chunk: Uint8Array; tp: number; value: number };
  const plans: Plan[] = [];
  let total = 0;
  for (const e of entries) {
    if (seen.has(e.tag)) throw new MindsporeCkptError(`encode: tag '${e.tag}' given twice`);
    seen.add(e.tag);
    if (e.dims.some((d) => !(Number.isSafeInteger(d) && d >= 0))) throw new MindsporeCkptError(`encode: '${e.tag}': dims must be non-negative integers, got [${e.dims.join(', ')}]`);
    const known = canonicalType(e.type);
    if (known && known !== 'str' && known !== 'random_op' && e.content.length !== numel(e.dims) * MS_DTYPES[known as MsNumericType]) {
      throw new MindsporeCkptError(`encode: '${e.tag}': dims [${e.dims.join(', ')}] of ${e.type} need ${numel(e.dims) * MS_DTYPES[known as MsNumericType]} bytes, content has ${e.content.length}`);
    }
    const tag = utf8.encode(e.tag), type = utf8.encode(e.type);
    for (let o = 0; o < Math.max(e.content.length, 1); o += sliceBytes) {
      const chunk = e.content.subarray(o, o + sliceBytes);
      const tp = e.dims.reduce((a, d) => a + 1 + varintLen(d), 0) + 1 + varintLen(type.length) + type.length + 1 + varintLen(chunk.length) + chunk.length;
      const value = 1 + varintLen(tag.length) + tag.length + 1 + varintLen(tp) + tp;
      plans.push({ tag, type, dims: e.dims, chunk, tp, value });
      total += 1 + varintLen(value) + value;
    }
  }
  const out = new Uint8Array(total + (opts.crc ? TRAILER : 0));
  let p = 0;
  const putVarint = (v: number) => { while (v >= 128) { out[p++] = (v % 128) | 0x80; v = Math.floor(v / 128); } out[p++] = v; };
  const putBytes = (field: number, b: Uint8Array) => { out[p++] = (field << 3) | LEN; putVarint(b.length); out.set(b, p); p += b.length; };
  for (const s of plans) {
    out[p++] = (1 << 3) | LEN; putVarint(s.value); // Checkpoint.value
    putBytes(1, s.tag); // Value.tag
    out[p++] = (2 << 3) | LEN; putVarint(s.tp); // Value.tensor
    for (const d of s.dims) { out[p++] = (1 << 3) | VARINT; putVarint(d); }
    putBytes(2, s.type);
    putBytes(3, s.chunk);
  }
  if (opts.crc) {
    out.set(utf8.encode(CRC_MARK), p);
    let c = BigInt(crc32(out.subarray(0, total)));
    for (let i = TRAILER - 1; i >= CRC_MARK.length; i--) { out[i + p] = Number(c & 0xffn); c >>= 8n; }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Typed values

function bytesOf(a: ArrayBufferView): Uint8Array {
  if (!HOST_IS_LITTLE_ENDIAN) throw new MindsporeCkptError('big-endian hosts are not supported');
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

export function msFloat32(tag: string, dims: readonly number[], data: ArrayLike<number>): MsEntry {
  return { tag, type: 'Float32', dims: [...dims], content: bytesOf(data instanceof Float32Array ? data : Float32Array.from(data)) };
}

export function msInt32(tag: string, dims: readonly number[], data: ArrayLike<number>): MsEntry {
  return { tag, type: 'Int32', dims: [...dims], content: bytesOf(Int32Array.from(data)) };
}

/** A string as save_checkpoint writes append_dict strings: dims [0], numpy's UTF-32LE. */
export function msText(tag: string, s: string): MsEntry {
  const cps = Uint32Array.from(Array.from(s, (ch) => ch.codePointAt(0)!));
  return { tag, type: 'str', dims: [0], content: bytesOf(cps) };
}

export function msTextOf(e: MsEntry): string {
  if (e.type !== 'str') throw new MindsporeCkptError(`'${e.tag}' is ${e.type}, not a str value`);
  const dv = new DataView(e.content.buffer, e.content.byteOffset, e.content.byteLength);
  let s = '';
  for (let i = 0; i < e.content.length; i += 4) {
    const cp = dv.getUint32(i, true);
    if (cp === 0) break; // numpy pads fixed-width strings with NULs
    s += String.fromCodePoint(cp);
  }
  return s;
}

const fromHalf = (h: number, bf16: boolean): number => {
  if (bf16) return new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
  const e = (h >> 10) & 0x1f, m = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
};

/** A floating-point entry's values as f32 (Float16, BFloat16 and Float64 converted). */
export function msToFloat32(e: MsEntry): Float32Array {
  const dv = new DataView(e.content.buffer, e.content.byteOffset, e.content.byteLength);
  const n = numel(e.dims);
  const out = new Float32Array(n);
  switch (e.type) {
    case 'Float32': for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true); break;
    case 'Float64': for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true); break;
    case 'Float16': case 'BFloat16': for (let i = 0; i < n; i++) out[i] = fromHalf(dv.getUint16(2 * i, true), e.type === 'BFloat16'); break;
    default: throw new MindsporeCkptError(`'${e.tag}' is ${e.type}; model tensors must be Float32, Float16, BFloat16 or Float64`);
  }
  return out;
}
