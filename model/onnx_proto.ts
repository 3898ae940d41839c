// ONNX files written by hand: a protobuf wire-format writer and the subset of onnx/onnx.proto that an
// inference graph needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto
// with TypeProto.Tensor and TensorShapeProto, OperatorSetIdProto, StringStringEntryProto).
// Why by hand: writing protobuf takes three wire types (varint, fixed32, length-delimited) and a tag
// per field, about a hundred lines here, while a protobuf library plus code generated from onnx.proto
// would be a runtime dependency of the model for one output format (the engine has no ML framework).
// Field numbers are onnx.proto's (IR version 8); each builder names them. Repeated scalars are written
// unpacked, as proto2 declares them (parsers accept either form); tensor data goes in raw_data,
// little-endian, as onnx.proto requires.

// ---------------------------------------------------------------------------------------
// Wire format

const VARINT = 0, FIXED32 = 5, LEN = 2;
const utf8 = new TextEncoder();

/** One message under construction: fields appended in order, bytes joined by finish(). */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];

  private varint(v: bigint): void {
    // int64 fields are two's complement on the wire: a negative value takes ten bytes
    let u = BigInt.asUintN(64, v);
    const out: number[] = [];
    while (u >= 0x80n) { out.push(Number(u & 0x7fn) | 0x80); u >>= 7n; }
    out.push(Number(u));
    this.parts.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void { this.varint(BigInt(field) << 3n | BigInt(wire)); }

  /** int32, int64 and enum fields. */
  int(field: number, v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`protobuf field ${field}: ${v} is not an integer`);
    this.tag(field, VARINT);
    this.varint(BigInt(v));
    return this;
  }

  /** float fields (fixed32, little-endian). */
  float(field: number, v: number): this {
    this.tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.parts.push(b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, LEN);
    this.varint(BigInt(b.length));
    this.parts.push(b);
    return this;
  }

  string(field: number, s: string): this { return this.bytes(field, utf8.encode(s)); }

  message(field: number, m: ProtoWriter): this { return this.bytes(field, m.finish()); }

  finish(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) { out.set(p, at); at += p.length; }
    return out;
  }
}

// ---------------------------------------------------------------------------------------
// Messages

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

export interface TensorInit {
  name: string;
  dims: readonly number[];
  /** FLOAT data is stored as float32 (rounded once), INT64 as int64. */
  dataType: (typeof DataType)[keyof typeof DataType];
  data: ArrayLike<number>;
}

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9. */
export function tensorProto(t: TensorInit): ProtoWriter {
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new RangeError(`tensor ${t.name}: dims [${t.dims.join(', ')}] need ${n} values, got ${t.data.length}`);
  const size = t.dataType === DataType.FLOAT ? 4 : 8;
  const raw = new Uint8Array(n * size), dv = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) {
    if (t.dataType === DataType.FLOAT) dv.setFloat32(i * 4, t.data[i]!, true);
    else dv.setBigInt64(i * 8, BigInt(t.data[i]!), true);
  }
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  return w.int(2, t.dataType).string(8, t.name).bytes(9, raw);
}

/** An attribute value: a plain number is an INT (checked), `{ float }` a FLOAT, number[] INTS, string STRING. */
export type AttrValue = number | { float: number } | readonly number[] | string;

/** AttributeProto: name 1, f 2, i 3, s 4, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7). */
function attributeProto(name: string, v: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if (typeof v === 'number') return w.int(20, 2).int(3, v);
  if (typeof v === 'string') return w.int(20, 3).string(4, v);
  if ('float' in v) return w.int(20, 1).float(2, v.float);
  w.int(20, 7);
  for (const i of v as readonly number[]) w.int(8, i);
  return w;
}

export interface NodeInit {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name: string;
  attrs?: Record<string, AttrValue>;
}

/** NodeProto: input 1, output 2, name 3, op_type 4, attribute 5 (domain 7 left out: the default ONNX domain). */
export function nodeProto(n: NodeInit): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attributeProto(k, v));
  return w;
}

/** A tensor's name, element type and shape; a string dimension is symbolic (dim_param). */
export interface ValueInfo { name: string; elemType: (typeof DataType)[keyof typeof DataType]; dims: readonly (number | string)[] }

/** ValueInfoProto: name 1, type 2 -> TypeProto.tensor_type 1 -> { elem_type 1, shape 2 -> TensorShapeProto.dim 1 -> { dim_value 1 | dim_param 2 } }. */
export function valueInfoProto(v: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensor = new ProtoWriter().int(1, v.elemType).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensor));
}

export interface GraphInit {
  name: string;
  nodes: readonly NodeInit[];
  initializers: readonly TensorInit[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
  doc?: string;
}

/** GraphProto: node 1, name 2, initializer 5, doc_string 10, input 11, output 12. */
export function graphProto(g: GraphInit): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, nodeProto(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, tensorProto(t));
  if (g.doc) w.string(10, g.doc);
  for (const v of g.inputs) w.message(11, valueInfoProto(v));
  for (const v of g.outputs) w.message(12, valueInfoProto(v));
  return w;
}

export interface ModelInit {
  irVersion: number;
  /** Version of the default ONNX operator set. */
  opset: number;
  producerName: string;
  producerVersion: string;
  doc?: string;
  graph: GraphInit;
  /** metadata_props: free-form key/value strings (ONNX Runtime: session metadata's custom map). */
  metadata: Record<string, string>;
}

/**
 * ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7,
 * opset_import 8 -> OperatorSetIdProto { domain 1, version 2 }, metadata_props 14 -> { key 1, value 2 }.
 */
export function encodeModel(m: ModelInit): Uint8Array {
  const w = new ProtoWriter().int(1, m.irVersion).string(2, m.producerName).string(3, m.producerVersion);
  if (m.doc) w.string(6, m.doc);
  w.message(7, graphProto(m.graph));
  w.message(8, new ProtoWriter().string(1, '').int(2, m.opset));
  for (const [k, v] of Object.entries(m.metadata)) w.message(14, new ProtoWriter().string(1, k).string(2, v));
  return w.finish();
}
