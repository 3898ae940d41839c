// A protobuf reader for the ONNX tests, written apart from model/onnx_proto.ts's writer so that each
// checks the other: it splits a message into its fields and reads back the parts of a ModelProto the
// tests look at (IR version, opsets, graph inputs/outputs, nodes with their attributes, initializers,
// metadata_props). Field numbers are onnx.proto's.

type Value = bigint | Uint8Array;
type Fields = Map<number, Value[]>;

function decode(b: Uint8Array): Fields {
  const out: Fields = new Map();
  let at = 0;
  const varint = (): bigint => {
    let v = 0n, shift = 0n;
    for (;;) {
      if (at >= b.length) throw new Error('truncated varint');
      const byte = b[at++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
      shift += 7n;
    }
  };
  while (at < b.length) {
    const key = varint();
    const field = Number(key >> 3n), wire = Number(key & 7n);
    let v: Value;
    if (wire === 0) v = varint();
    else if (wire === 2) { const n = Number(varint()); v = b.subarray(at, at + n); at += n; }
    else if (wire === 5) { v = b.subarray(at, at + 4); at += 4; }
    else if (wire === 1) { v = b.subarray(at, at + 8); at += 8; }
    else throw new Error(`wire type ${wire} of field ${field}`);
    if (at > b.length) throw new Error(`field ${field} runs past the end`);
    out.set(field, [...(out.get(field) ?? []), v]);
  }
  return out;
}

const text = (v: Value | undefined) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : '');
const int = (v: Value | undefined) => (typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : 0);
const msgs = (f: Fields, n: number) => (f.get(n) ?? []).map((v) => decode(v as Uint8Array));

export interface OnnxAttr { name: string; type: number; i?: number; f?: number; s?: string; ints?: number[] }
export interface OnnxNode { op: string; name: string; inputs: string[]; outputs: string[]; attrs: Map<string, OnnxAttr> }
export interface OnnxValue { name: string; elemType: number; dims: (number | string)[] }
export interface OnnxModel {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: string;
  nodes: OnnxNode[];
  initializers: { name: string; dims: number[]; dataType: number; bytes: number }[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  metadata: Record<string, string>;
}

function attr(f: Fields): OnnxAttr {
  const a: OnnxAttr = { name: text(f.get(1)?.[0]), type: int(f.get(20)?.[0]) };
  if (f.has(3)) a.i = int(f.get(3)![0]);
  if (f.has(2)) { const b = f.get(2)![0] as Uint8Array; a.f = new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true); }
  if (f.has(4)) a.s = text(f.get(4)![0]);
  if (f.has(8)) a.ints = f.get(8)!.map(int);
  return a;
}

function valueInfo(f: Fields): OnnxValue {
  const tensor = msgs(msgs(f, 2)[0]!, 1)[0]!;
  const dims = msgs(msgs(tensor, 2)[0] ?? new Map(), 1).map((d) => (d.has(1) ? int(d.get(1)![0]) : text(d.get(2)?.[0])));
  return { name: text(f.get(1)?.[0]), elemType: int(tensor.get(1)?.[0]), dims };
}

export function readOnnx(bytes: Uint8Array): OnnxModel {
  const m = decode(bytes);
  const g = msgs(m, 7)[0]!;
  return {
    irVersion: int(m.get(1)?.[0]),
    opsets: msgs(m, 8).map((o) => ({ domain: text(o.get(1)?.[0]), version: int(o.get(2)?.[0]) })),
    producer: text(m.get(2)?.[0]),
    nodes: msgs(g, 1).map((n) => ({
      inputs: (n.get(1) ?? []).map(text), outputs: (n.get(2) ?? []).map(text), name: text(n.get(3)?.[0]), op: text(n.get(4)?.[0]),
      attrs: new Map(msgs(n, 5).map((a) => { const x = attr(a); return [x.name, x]; })),
    })),
    initializers: msgs(g, 5).map((t) => ({ dims: (t.get(1) ?? []).map(int), dataType: int(t.get(2)?.[0]), name: text(t.get(8)?.[0]), bytes: (t.get(9)?.[0] as Uint8Array | undefined)?.length ?? 0 })),
    inputs: msgs(g, 11).map(valueInfo),
    outputs: msgs(g, 12).map(valueInfo),
    metadata: Object.fromEntries(msgs(m, 14).map((e) => [text(e.get(1)?.[0]), text(e.get(2)?.[0])])),
  };
}
