// Safetensors checkpoint format (https://github.com/huggingface/safetensors), pure TypeScript.
//
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON header, then the raw
// little-endian data section. The decoder treats the file as untrusted input: every
// header field is validated, and the tensors must tile the data section exactly.
// Bytes only, so a page can use it too: files are read and written (atomically) by
// train/checkpoint_io.ts.

type DtypeArrays = {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array; // raw IEEE half bits
  BF16: Uint16Array; // raw bfloat16 bits
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
};

export type StDtype = keyof DtypeArrays;

/** One tensor; `data` is row-major and its array type is tied to `dtype`. */
export type StTensor = { [D in StDtype]: { dtype: D; shape: number[]; data: DtypeArrays[D] } }[StDtype];

export type StFile = { tensors: Record<string, StTensor>; metadata: Record<string, string> };

type ArrayCtor = { new (length: number): DtypeArrays[StDtype]; readonly BYTES_PER_ELEMENT: number };

const DTYPES: Record<StDtype, ArrayCtor> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/** Same limit as the reference implementation: bounds memory spent on a hostile header. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

// Tensor bytes are copied verbatim between typed arrays and the file, which is only
// correct when the host byte order matches the format's (little-endian).
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function requireLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new SafetensorsError('safetensors: big-endian hosts are not supported');
}

function isDtype(s: unknown): s is StDtype {
  return typeof s === 'string' && Object.hasOwn(DTYPES, s);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

// ---------------------------------------------------------------------------------------
// Encoding

/**
 * Serialize tensors to safetensors bytes. Tensors are laid out sorted by name, and the
 * header is padded with spaces so the data section starts 8-byte aligned; the output is
 * a pure function of the input.
 */
export function encodeSafetensors(tensors: Record<string, StTensor>, metadata?: Record<string, string>): Uint8Array {
  requireLittleEndianHost();
  const names = Object.keys(tensors).sort();
  const entries: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`encode: metadata '${k}' must be a string, got ${typeof v}`);
    }
    const keys = Object.keys(metadata).sort();
    const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',');
    entries.push(`${JSON.stringify(METADATA_KEY)}:{${body}}`);
  }

  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const name of names) {
    const t = tensors[name]!;
    if (name === '' || name === METADATA_KEY) throw new SafetensorsError(`encode: invalid tensor name '${name}'`);
    if (!isDtype(t.dtype)) throw new SafetensorsError(`encode: tensor '${name}': unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every(isIndex)) {
      throw new SafetensorsError(`encode: tensor '${name}': shape must be non-negative integers, got ${JSON.stringify(t.shape)}`);
    }
    const ctor = DTYPES[t.dtype];
    if (!(t.data instanceof ctor)) {
      throw new SafetensorsError(`encode: tensor '${name}': dtype ${t.dtype} needs a ${ctor.name}, got ${t.data?.constructor?.name}`);
    }
    const numel = numelOf(t.shape);
    if (t.data.length !== numel) {
      throw new SafetensorsError(
        `encode: tensor '${name}': shape ${fmtShape(t.shape)} has ${numel} elements but data has ${t.data.length}`,
      );
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    entries.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    chunks.push(bytes);
    offset += bytes.length;
  }

  // Built by hand rather than JSON.stringify(object) because JS objects put integer-like
  // keys ("0", "12") first, which would break the sorted, reproducible order.
  let header = new TextEncoder().encode(`{${entries.join(',')}}`);
  const padded = Math.ceil(header.length / 8) * 8;
  if (padded !== header.length) {
    const h = new Uint8Array(padded).fill(0x20);
    h.set(header);
    header = h;
  }
  if (header.length > MAX_HEADER_BYTES) {
    throw new SafetensorsError(`encode: header is ${header.length} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  }

  const out = new Uint8Array(8 + header.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let pos = 8 + header.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Decoding

type Entry = { name: string; dtype: StDtype; shape: number[]; begin: number; end: number };

/**
 * Parse and validate safetensors bytes. `source` (usually the file path) prefixes every
 * error message. Tensor data is copied into fresh, aligned typed arrays, so the result
 * does not alias `bytes`.
 */
export function decodeSafetensors(bytes: Uint8Array, source = '<buffer>'): StFile {
  requireLittleEndianHost();
  function fail(msg: string): never {
    throw new SafetensorsError(`${source}: ${msg}`);
  }
  const fileLen = bytes.length;
  // a safetensors header is JSON starting at byte 8; otherwise say what the file looks like, if known
  if (bytes[8] !== 0x7b) {
    const other = otherFormat(bytes);
    if (other) fail(`looks like ${other}, not a safetensors checkpoint`);
  }
  if (fileLen < 8) fail(`truncated file: header length needs bytes [0, 8) but file is ${fileLen} bytes`);

  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${n64} bytes exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const headerLen = Number(n64);
  const dataStart = 8 + headerLen;
  if (dataStart > fileLen) {
    fail(`truncated file: header needs bytes [8, ${dataStart}) but file is ${fileLen} bytes`);
  }
  const dataLen = fileLen - dataStart;

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    fail(`header (bytes [8, ${dataStart})) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header (bytes [8, ${dataStart})) is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) fail(`header must be a JSON object, got ${Array.isArray(header) ? 'array' : typeof header}`);
  const head = header as Record<string, unknown>;

  const metadata: [string, string][] = [];
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(head)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(raw)) fail(`${METADATA_KEY} must be an object of strings`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`${METADATA_KEY} '${k}' must be a string, got ${JSON.stringify(v)}`);
        metadata.push([k, v as string]);
      }
      continue;
    }
    const what = `tensor '${name}'`;
    if (!isPlainObject(raw)) fail(`${what}: entry must be an object`);
    const info = raw as Record<string, unknown>;
    for (const k of Object.keys(info)) {
      if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') fail(`${what}: unexpected field '${k}'`);
    }
    const { dtype, shape, data_offsets: offs } = info;
    if (!isDtype(dtype)) fail(`${what}: unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      fail(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isIndex)) {
      fail(`${what}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end) fail(`${what}: data_offsets [${begin}, ${end}) has begin > end`);
    if (end > dataLen) {
      fail(
        `truncated file: ${what} needs data bytes [${begin}, ${end}) = file bytes ` +
          `[${dataStart + begin}, ${dataStart + end}) but file is ${fileLen} bytes`,
      );
    }
    const s = shape as number[];
    const expected = numelOf(s) * DTYPES[dtype as StDtype].BYTES_PER_ELEMENT;
    if (end - begin !== expected) {
      fail(
        `${what}: data_offsets [${begin}, ${end}) span ${end - begin} bytes but ` +
          `${dtype} ${fmtShape(s)} needs ${Number.isSafeInteger(expected) ? expected : 'too many'} bytes`,
      );
    }
    entries.push({ name, dtype: dtype as StDtype, shape: s, begin, end });
  }

  // The tensors must tile [0, dataLen) exactly: overlaps would alias data and gaps or
  // trailing bytes mean the header and data disagree (corruption or a smuggled payload).
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor) {
      fail(`tensor '${e.name}' data [${e.begin}, ${e.end}) overlaps tensor '${prev!.name}' data [${prev!.begin}, ${prev!.end})`);
    }
    if (e.begin > cursor) fail(`data bytes [${cursor}, ${e.begin}) are not covered by any tensor (hole before tensor '${e.name}')`);
    cursor = e.end;
    prev = e;
  }
  if (cursor < dataLen) {
    fail(
      `trailing bytes: data bytes [${cursor}, ${dataLen}) = file bytes [${dataStart + cursor}, ${fileLen}) ` +
        `are not covered by any tensor`,
    );
  }

  const tensors: [string, StTensor][] = entries.map((e) => {
    const data = new DTYPES[e.dtype](numelOf(e.shape));
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    return [e.name, { dtype: e.dtype, shape: e.shape, data } as StTensor];
  });
  // fromEntries defines own properties, so a key like "__proto__" cannot touch the prototype.
  return { tensors: Object.fromEntries(tensors), metadata: Object.fromEntries(metadata) };
}

/** Formats a checkpoint path may point at by mistake, by their first bytes. */
export function otherFormat(b: Uint8Array): string | null {
  const starts = (...sig: number[]) => sig.every((v, i) => b[i] === v);
  if (looksLikeMindsporeCkpt(b)) return 'a MindSpore checkpoint (give it the .ckpt extension, or convert it: npm run convert -- IN.ckpt OUT.safetensors)';
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'a PNG image';
  if (starts(0xff, 0xd8, 0xff)) return 'a JPEG image';
  if (starts(0x1f, 0x8b)) return 'a gzip-compressed file (unpack it first)';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return "a zip archive (PyTorch's .pt/.pth files are zip archives)";
  if (starts(0x89, 0x48, 0x44, 0x46)) return 'an HDF5 file (e.g. Keras .h5)';
  if (b[0] === 0x80 && b[1]! >= 2 && b[1]! <= 5) return 'a Python pickle (e.g. an old PyTorch .pt file)';
  const head = b.subarray(0, Math.min(b.length, 64));
  if (head.length > 0 && head.every((c) => c === 0x09 || c === 0x0a || c === 0x0d || (c >= 0x20 && c < 0x7f))) return 'a text file';
  return null;
}

/** A MindSpore .ckpt starts with a Checkpoint.value field (0x0a, a length varint) whose first field is Value.tag (0x0a). */
function looksLikeMindsporeCkpt(b: Uint8Array): boolean {
  if (b[0] !== 0x0a) return false;
  let i = 1;
  while (i < 11 && i < b.length && b[i]! & 0x80) i++;
  return b[i + 1] === 0x0a;
}

// ---------------------------------------------------------------------------------------
// Strict loading

/**
 * Check that `got` holds exactly the tensors in `expected` (name -> shape). Throws one
 * error listing every missing, unexpected and mis-shaped tensor, so a bad checkpoint is
 * diagnosed in one go instead of one name at a time.
 */
export function checkTensorSet(expected: Record<string, number[]>, got: Record<string, StTensor>, source: string): void {
  const missing: string[] = [];
  const misshaped: string[] = [];
  for (const name of Object.keys(expected).sort()) {
    if (!Object.hasOwn(got, name)) {
      missing.push(name);
      continue;
    }
    const want = expected[name]!;
    const have = got[name]!.shape;
    if (want.length !== have.length || want.some((d, i) => d !== have[i])) {
      misshaped.push(`${name}: expected ${fmtShape(want)}, got ${fmtShape(have)}`);
    }
  }
  const unexpected = Object.keys(got)
    .filter((name) => !Object.hasOwn(expected, name))
    .sort();
  if (missing.length + unexpected.length + misshaped.length === 0) return;
  const lines = [`${source}: checkpoint does not match the model`];
  if (missing.length) lines.push(`  missing tensors (${missing.length}): ${missing.join(', ')}`);
  if (unexpected.length) lines.push(`  unexpected tensors (${unexpected.length}): ${unexpected.join(', ')}`);
  if (misshaped.length) lines.push(`  wrong shape (${misshaped.length}):`, ...misshaped.map((m) => `    ${m}`));
  throw new SafetensorsError(lines.join('\n'));
}
