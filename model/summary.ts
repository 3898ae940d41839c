// Per-layer output shapes, parameter counts and multiply-adds of a ShuffleNetV1, computed from its
// architecture alone (pure arithmetic: no device, no tensors).
// Counting convention: the ShuffleNet paper's "FLOPs" column counts multiply-adds of convolutions and
// the dense layer only (batch norm, ReLU, pools, shuffle and the residual add are not counted); a conv
// costs Ho·Wo·out·(in/groups)·k² per image, the dense layer in·out. Parameters include BN gamma/beta
// (trainable) but not the running statistics, which are listed as buffers.
import { fmt } from '../engine/shape.ts';
import { channelsFor, resolveConfig, unitPlans, type ModelConfig, type ShuffleNetConfig } from './architecture.ts';

export interface SummaryRow {
  /** state_dict prefix of the layer, or a descriptive name for parameter-free steps. */
  name: string;
  kind: string;
  /** Output shape for one image: [C, H, W] or [features]. */
  out: number[];
  params: number;
  macs: number;
}

export interface Summary {
  config: ModelConfig;
  imageSize: number;
  rows: SummaryRow[];
  params: number;
  /** Batch-norm running mean and variance elements. */
  buffers: number;
  macs: number;
}

/** Summarise a model (anything with a `config`, e.g. a ShuffleNetV1) or a configuration at `imageSize` x `imageSize`. */
export function summary(model: { config: ModelConfig } | ShuffleNetConfig, imageSize?: number): Summary {
  const config = 'config' in model ? model.config : resolveConfig(model);
  const size = imageSize ?? config.imageSize;
  resolveConfig({ ...config, imageSize: size }); // validates the size
  const rows: SummaryRow[] = [];
  let buffers = 0;
  let C = 3, H = size, W = size;
  const down = (v: number) => Math.ceil(v / 2); // stride-2 3x3 with pad 1 or 'same' padding
  const conv = (name: string, outC: number, k: number, stride: number, groups: number) => {
    if (stride === 2) { H = down(H); W = down(W); }
    const kind = groups === 1 ? `conv${k}x${k}` : groups === C ? `dwconv${k}x${k}` : `gconv${k}x${k} g${groups}`;
    const params = outC * (C / groups) * k * k;
    rows.push({ name, kind: stride === 2 ? `${kind} /2` : kind, out: [outC, H, W], params, macs: H * W * params });
    C = outC;
  };
  const bn = (name: string, relu: boolean) => {
    rows.push({ name, kind: relu ? 'bn+relu' : 'bn', out: [C, H, W], params: 2 * C, macs: 0 });
    buffers += 2 * C;
  };
  const step = (name: string, kind: string) => rows.push({ name, kind, out: [C, H, W], params: 0, macs: 0 });

  const [c1, , , c4] = channelsFor(config.size, config.group);
  conv('first_conv.0', c1, 3, config.stem === 'imagenet' ? 2 : 1, 1);
  bn('first_conv.1', true);
  if (config.stem === 'imagenet') { H = down(H); W = down(W); step('maxpool', 'maxpool3x3 /2'); }
  for (const u of unitPlans(config.size, config.group)) {
    const p = `features.${u.index}`;
    const [inC, inH, inW] = [C, H, W];
    conv(`${p}.branch_main_1.0`, u.mid, 1, 1, u.groups1);
    bn(`${p}.branch_main_1.1`, true);
    if (u.group > 1) step(`${p}.shuffle`, `shuffle g${u.group}`);
    conv(`${p}.branch_main_2.0`, u.mid, 3, u.stride, u.mid);
    bn(`${p}.branch_main_2.1`, false);
    conv(`${p}.branch_main_2.2`, u.mainOut, 1, 1, u.group);
    bn(`${p}.branch_main_2.3`, false);
    if (u.stride === 2) {
      rows.push({ name: `${p}.shortcut`, kind: 'avgpool3x3 /2', out: [inC, H, W], params: 0, macs: 0 });
      C = inC + u.mainOut;
      step(`${p}.out`, 'concat+relu');
    } else {
      if (C !== inC || H !== inH || W !== inW) throw new Error(`summary: ${p} residual shapes differ`);
      step(`${p}.out`, 'add+relu');
    }
  }
  rows.push({ name: 'globalpool', kind: 'global avgpool', out: [C], params: 0, macs: 0 });
  rows.push({ name: 'classifier', kind: 'dense', out: [config.classes], params: c4 * config.classes + config.classes, macs: c4 * config.classes });
  return {
    config, imageSize: size, rows, buffers,
    params: rows.reduce((s, r) => s + r.params, 0),
    macs: rows.reduce((s, r) => s + r.macs, 0),
  };
}

const num = (n: number) => n.toLocaleString('en-US');

/** The summary as a text table with totals. */
export function formatSummary(s: Summary): string {
  const head = ['layer', 'type', 'output', 'params', 'mult-adds'];
  const body = s.rows.map((r) => [r.name, r.kind, fmt(r.out), r.params ? num(r.params) : '', r.macs ? num(r.macs) : '']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const { size, group, classes, stem } = s.config;
  return [
    `ShuffleNetV1 ${size} g=${group}, ${classes} classes, ${stem} stem, input 3x${s.imageSize}x${s.imageSize}`,
    line(head),
    '-'.repeat(widths.reduce((a, b) => a + b + 2, -2)),
    ...body.map(line),
    '',
    `parameters: ${num(s.params)} (${(s.params / 1e6).toFixed(3)} M, including BN gamma/beta); BN running statistics: ${num(s.buffers)}`,
    `multiply-adds: ${num(s.macs)} (${(s.macs / 1e6).toFixed(2)} M; conv + dense, the paper's FLOPs convention)`,
  ].join('\n');
}
