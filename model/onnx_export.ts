// ShuffleNetV1 as an ONNX inference graph (opset 17, IR version 8), built on the host from a state
// dict (a checkpoint's tensors; no GPU). The graph computes what model/shufflenet.ts computes in eval
// mode, op for op:
//   stem  Conv 3x3 pads 1 (stride 2 'imagenet' | 1 'cifar') [+ BatchNormalization] + Relu; the
//         'imagenet' stem then MaxPool 3x3/2 'same'
//   unit  Conv 1x1 group=groups1 [+ BN] + Relu; channel shuffle when G > 1; Conv 3x3 group=mid
//         (depthwise, stride 1|2, pads 1) [+ BN]; Conv 1x1 group=G [+ BN]; then stride 1:
//         Relu(Add(x, main)), stride 2: Relu(Concat(AveragePool 3x3/2 'same'(x), main)) (pooled first)
//   head  GlobalAveragePool, Flatten, Gemm with transB=1 (the weight stays [classes, C])
// The engine reads the channel shuffle through the depthwise conv's input indexing; here it is
// explicit, as kernels/channel_shuffle.ts defines it: Reshape [N, C/G, G, H·W], Transpose (0, 2, 1, 3),
// Reshape back to the input's shape (taken by a Shape node, so H and W may stay dynamic).
// Batch norm folded (the default) is model/fold_bn.ts's fold with the same float64 arithmetic
// (fold_math.ts): conv weights scaled per output channel, a bias on each conv, the depthwise conv's
// bias pushed into the next 1x1 conv's bias. Unfolded, each BN is a BatchNormalization node holding
// the running statistics.
// Pools: MindSpore's pad_mode='same' (out = ceil(in/2), total padding max((out - 1)·2 + 3 - in, 0),
// the smaller half first) is ONNX's auto_pad=SAME_UPPER, which keeps H and W dynamic; with a fixed
// image size the pads are written out instead ([top, left, bottom, right], asymmetric for even
// sizes), the form every ONNX consumer reads. MaxPool never takes a pad as a maximum and AveragePool
// with count_include_pad=0 divides by the real pixels, as kernels/max_pool.ts and avg_pool.ts do.
// Input 'input': float32 [N, 3, H, W], the model's own input, (pixel/255 - mean)/std per channel;
// with `normalize` a Sub and a Div in front take pixels in [0, 1] instead. Output 'logits' [N, classes].
import { convOut, samePadding } from '../engine/shape.ts';
import { checkImageSize, unitPlans, type ModelConfig, type UnitPlan } from './architecture.ts';
import { foldConvBnHost, pushBiasThroughGroupedConv } from './fold_math.ts';
import { DataType, encodeModel, type AttrValue, type NodeInit, type TensorInit, type ValueInfo } from './onnx_proto.ts';
import type { HostTensor } from './module.ts';

export const ONNX_OPSET = 17;
/** The IR version that goes with opset 17 (ONNX 1.12). */
export const ONNX_IR_VERSION = 8;
/** BatchNorm2d's epsilon; every batch norm of the model uses the default (a test checks). */
export const BN_EPS = 1e-5;
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';

export interface Normalization { mean: readonly number[]; std: readonly number[] }

export interface OnnxExportOptions {
  /** Fold batch norm into the convolutions (default true); false keeps BatchNormalization nodes. */
  fold?: boolean;
  /** Fix H = W = imageSize (explicit pool pads) instead of dynamic H and W. */
  imageSize?: number | null;
  /** The dataset's per-channel mean/std in [0, 1] pixel units; recorded in the metadata. */
  normalization?: Normalization | null;
  /** Put (x - mean)/std in the graph, so the input is RGB pixels in [0, 1] (needs `normalization`). */
  normalize?: boolean;
  /** One name per class, recorded as metadata 'class_names' (a JSON array). */
  classNames?: readonly string[] | null;
  /** More metadata_props (the dataset, the source checkpoint, ...). */
  metadata?: Record<string, string>;
  producerVersion?: string;
}

export class OnnxExportError extends Error {
  override name = 'OnnxExportError';
}

/** The tensors of a state dict, taken by name and shape; every problem is collected for one message. */
class StateReader {
  private readonly used = new Set<string>();
  readonly problems: string[] = [];

  constructor(private readonly state: Map<string, HostTensor>) {}

  get(name: string, shape: readonly number[]): ArrayLike<number> {
    const t = this.state.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    this.used.add(name);
    if (!t) this.problems.push(`missing tensor '${name}' [${shape.join(', ')}]`);
    else if (t.shape.join() !== shape.join()) this.problems.push(`'${name}': expected [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
    else if (t.data.length !== n) this.problems.push(`'${name}': shape [${shape.join(', ')}] needs ${n} values, got ${t.data.length}`);
    else return t.data;
    return new Float64Array(n); // placeholder: the export fails after collecting every problem
  }

  bn(prefix: string, C: number) {
    return { gamma: this.get(`${prefix}.weight`, [C]), beta: this.get(`${prefix}.bias`, [C]), mean: this.get(`${prefix}.running_mean`, [C]), var: this.get(`${prefix}.running_var`, [C]), eps: BN_EPS };
  }

  unexpected(): string[] { return [...this.state.keys()].filter((k) => !this.used.has(k)).sort(); }
}

/** Spatial size of an activation: fixed, or null where H and W are dynamic. */
type Size = { H: number; W: number } | null;

/** Nodes and initializers in topological order; a node's output value has the node's name. */
class GraphBuilder {
  readonly nodes: NodeInit[] = [];
  readonly inits: TensorInit[] = [];

  node(op: string, inputs: string[], name: string, attrs: Record<string, AttrValue> = {}): string {
    this.nodes.push({ op, inputs, outputs: [name], name, attrs });
    return name;
  }

  float(name: string, dims: readonly number[], data: ArrayLike<number>): string {
    this.inits.push({ name, dims, dataType: DataType.FLOAT, data });
    return name;
  }

  int64(name: string, data: readonly number[]): string {
    this.inits.push({ name, dims: [data.length], dataType: DataType.INT64, data });
    return name;
  }
}

/** A conv, its batch norm and optional ReLU: folded into Conv (+ bias) or kept as Conv, BatchNormalization. */
interface ConvSpec { conv: string; bn: string; inC: number; outC: number; k: 1 | 3; stride: number; group: number; relu: boolean }
type Out = { y: string; size: Size };

const convShape = (c: ConvSpec) => [c.outC, c.inC / c.group, c.k, c.k];

class Exporter {
  readonly g = new GraphBuilder();

  constructor(readonly s: StateReader, readonly fold: boolean) {}

  /** A Conv node with weight w and optional bias b (pads 1 for 3x3, 0 for 1x1), and its output size. */
  conv(x: string, c: ConvSpec, size: Size, w: ArrayLike<number>, b?: ArrayLike<number>): Out {
    const pad = c.k === 3 ? 1 : 0;
    const inputs = [x, this.g.float(`${c.conv}.weight`, convShape(c), w)];
    if (b) inputs.push(this.g.float(`${c.conv}.bias`, [c.outC], b));
    const y = this.g.node('Conv', inputs, c.conv, { kernel_shape: [c.k, c.k], strides: [c.stride, c.stride], pads: [pad, pad, pad, pad], group: c.group });
    return { y, size: size && { H: convOut(size.H, c.k, c.stride, pad), W: convOut(size.W, c.k, c.stride, pad) } };
  }

  /** conv + BN (+ ReLU): one Conv with the folded weights and bias, or Conv then BatchNormalization. */
  convBn(x: string, c: ConvSpec, size: Size): Out {
    const w = this.s.get(`${c.conv}.weight`, convShape(c));
    let out: Out;
    if (this.fold) {
      const f = foldConvBnHost(w, c.outC, this.s.bn(c.bn, c.outC));
      out = this.conv(x, c, size, f.w, f.b);
    } else {
      const conv = this.conv(x, c, size, w);
      const bn = this.s.bn(c.bn, c.outC);
      const stats = [bn.gamma, bn.beta, bn.mean, bn.var].map((d, i) => this.g.float(`${c.bn}.${['weight', 'bias', 'running_mean', 'running_var'][i]}`, [c.outC], d));
      out = { y: this.g.node('BatchNormalization', [conv.y, ...stats], c.bn, { epsilon: { float: BN_EPS } }), size: conv.size };
    }
    return c.relu ? { y: this.g.node('Relu', [out.y], `${c.bn}.relu`), size: out.size } : out;
  }

  /** 3x3/2 pool with MindSpore's 'same' padding (header). */
  pool(op: 'MaxPool' | 'AveragePool', x: string, name: string, size: Size): Out {
    const attrs: Record<string, AttrValue> = { kernel_shape: [3, 3], strides: [2, 2] };
    if (op === 'AveragePool') attrs.count_include_pad = 0;
    if (!size) return { y: this.g.node(op, [x], name, { ...attrs, auto_pad: 'SAME_UPPER' }), size };
    const h = samePadding(size.H, 3, 2), w = samePadding(size.W, 3, 2);
    return { y: this.g.node(op, [x], name, { ...attrs, pads: [h.before, w.before, h.after, w.after] }), size: { H: h.out, W: w.out } };
  }

  /** kernels/channel_shuffle.ts: y[n, j·(C/G) + i] = x[n, i·G + j]. */
  shuffle(x: string, C: number, G: number, name: string): string {
    const split = this.g.node('Reshape', [x, this.g.int64(`${name}.split_shape`, [0, C / G, G, -1])], `${name}.split`);
    const swapped = this.g.node('Transpose', [split], `${name}.transpose`, { perm: [0, 2, 1, 3] });
    return this.g.node('Reshape', [swapped, this.g.node('Shape', [x], `${name}.shape`)], name);
  }

  unit(x: string, p: UnitPlan, size: Size): Out {
    const f = `features.${p.index}`;
    const c1: ConvSpec = { conv: `${f}.branch_main_1.0`, bn: `${f}.branch_main_1.1`, inC: p.inC, outC: p.mid, k: 1, stride: 1, group: p.groups1, relu: true };
    const dw: ConvSpec = { conv: `${f}.branch_main_2.0`, bn: `${f}.branch_main_2.1`, inC: p.mid, outC: p.mid, k: 3, stride: p.stride, group: p.mid, relu: false };
    const c2: ConvSpec = { conv: `${f}.branch_main_2.2`, bn: `${f}.branch_main_2.3`, inC: p.mid, outC: p.mainOut, k: 1, stride: 1, group: p.group, relu: false };
    const a = this.convBn(x, c1, size);
    const s = p.group > 1 ? this.shuffle(a.y, p.mid, p.group, `${f}.channel_shuffle`) : a.y;
    let m: Out;
    if (this.fold) {
      // as fold_bn.ts: the depthwise conv gets no bias; its folded bias moves into the next conv's
      const fd = foldConvBnHost(this.s.get(`${dw.conv}.weight`, convShape(dw)), p.mid, this.s.bn(dw.bn, p.mid));
      const f2 = foldConvBnHost(this.s.get(`${c2.conv}.weight`, convShape(c2)), p.mainOut, this.s.bn(c2.bn, p.mainOut));
      pushBiasThroughGroupedConv(f2.w, f2.b, fd.b, p.group, p.mid, p.mainOut);
      const d = this.conv(s, dw, size, fd.w);
      m = this.conv(d.y, c2, d.size, f2.w, f2.b);
    } else {
      const d = this.convBn(s, dw, size);
      m = this.convBn(d.y, c2, d.size);
    }
    if (p.stride === 1) return { y: this.g.node('Relu', [this.g.node('Add', [x, m.y], `${f}.add`)], `${f}.relu`), size: m.size };
    const pooled = this.pool('AveragePool', x, `${f}.shortcut_pool`, size);
    const cat = this.g.node('Concat', [pooled.y, m.y], `${f}.concat`, { axis: 1 });
    return { y: this.g.node('Relu', [cat], `${f}.relu`), size: m.size };
  }
}

/**
 * The ONNX file (bytes) of the ShuffleNetV1 described by `config` with the tensors of `state` (PyTorch
 * state-dict names, as checkpoints hold them). The state must match the model exactly; every missing,
 * unexpected or mis-shaped tensor is named in one OnnxExportError.
 */
export function exportOnnx(config: ModelConfig, state: Map<string, HostTensor>, opts: OnnxExportOptions = {}): Uint8Array {
  const fold = opts.fold ?? true;
  const fixed = opts.imageSize ?? null;
  if (fixed !== null) checkImageSize(fixed, fixed, 'imageSize');
  if (opts.normalize && !opts.normalization) throw new OnnxExportError('normalize needs the dataset\'s normalization (mean and std per channel)');
  const norm = opts.normalization ?? null;
  if (norm && !(norm.mean.length === 3 && norm.std.length === 3 && norm.std.every((v) => v > 0))) {
    throw new OnnxExportError(`normalization needs 3 means and 3 positive stds (RGB), got mean [${norm.mean.join(', ')}], std [${norm.std.join(', ')}]`);
  }
  if (opts.classNames && opts.classNames.length !== config.classes) {
    throw new OnnxExportError(`${opts.classNames.length} class names for a model with ${config.classes} classes`);
  }

  const s = new StateReader(state);
  const e = new Exporter(s, fold);
  const g = e.g;
  const size: Size = fixed === null ? null : { H: fixed, W: fixed };
  let x = INPUT_NAME;
  if (opts.normalize && norm) {
    const sub = g.node('Sub', [x, g.float('normalize.mean', [1, 3, 1, 1], norm.mean)], 'normalize.sub');
    x = g.node('Div', [sub, g.float('normalize.std', [1, 3, 1, 1], norm.std)], 'normalize.div');
  }
  const plans = unitPlans(config.size, config.group);
  const c1 = plans[0]!.inC;
  let h = e.convBn(x, { conv: 'first_conv.0', bn: 'first_conv.1', inC: 3, outC: c1, k: 3, stride: config.stem === 'imagenet' ? 2 : 1, group: 1, relu: true }, size);
  if (config.stem === 'imagenet') h = e.pool('MaxPool', h.y, 'first_conv.max_pool', h.size);
  for (const p of plans) h = e.unit(h.y, p, h.size);
  const c4 = plans[plans.length - 1]!.outC;
  const flat = g.node('Flatten', [g.node('GlobalAveragePool', [h.y], 'global_pool')], 'flatten', { axis: 1 });
  g.node('Gemm', [flat, g.float('classifier.weight', [config.classes, c4], s.get('classifier.weight', [config.classes, c4])),
    g.float('classifier.bias', [config.classes], s.get('classifier.bias', [config.classes]))], OUTPUT_NAME, { transB: 1 });

  const unexpected = s.unexpected();
  if (s.problems.length || unexpected.length) {
    const lines = [`the state dict does not match ShuffleNetV1 ${config.size} g=${config.group} (${config.classes} classes)`, ...s.problems];
    if (unexpected.length) lines.push(`unexpected tensors (${unexpected.length}): ${unexpected.join(', ')}`);
    throw new OnnxExportError(lines.join('\n  '));
  }

  const dims: (number | string)[] = fixed === null ? ['N', 3, 'H', 'W'] : ['N', 3, fixed, fixed];
  const input: ValueInfo = { name: INPUT_NAME, elemType: DataType.FLOAT, dims };
  const output: ValueInfo = { name: OUTPUT_NAME, elemType: DataType.FLOAT, dims: ['N', config.classes] };
  const inputDoc = opts.normalize
    ? 'RGB pixels in [0, 1]; the graph subtracts mean and divides by std'
    : 'already normalised: (pixel/255 - mean)/std per RGB channel';
  const describe = `ShuffleNetV1 ${config.size} g=${config.group}, ${config.stem} stem, ${config.classes} classes; ` +
    `input '${INPUT_NAME}' float32 [${dims.join(', ')}] ${inputDoc}; output '${OUTPUT_NAME}' float32 [N, ${config.classes}]`;
  const metadata: Record<string, string> = {
    ...(opts.classNames ? { class_names: JSON.stringify(opts.classNames) } : {}),
    model_size: config.size, group: String(config.group), stem: config.stem, n_class: String(config.classes), image_size: String(config.imageSize),
    batch_norm: fold ? 'folded' : 'BatchNormalization',
    input_normalization: opts.normalize ? 'in the graph: input is RGB pixels in [0, 1]' : 'not in the graph: input is (pixel/255 - mean)/std',
    ...(norm ? { mean: JSON.stringify(norm.mean), std: JSON.stringify(norm.std) } : {}),
    ...opts.metadata,
  };
  return encodeModel({
    irVersion: ONNX_IR_VERSION, opset: ONNX_OPSET, producerName: 'shufflenet-webgpu', producerVersion: opts.producerVersion ?? '',
    doc: describe, metadata,
    graph: { name: `shufflenet_v1_${config.size}_g${config.group}`, nodes: g.nodes, initializers: g.inits, inputs: [input], outputs: [output], doc: describe },
  });
}
