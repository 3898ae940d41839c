// Training-curve picture: one PNG with two side-by-side panels, loss per epoch
// and accuracy (%) per epoch, train vs test, drawn on the CPU canvas; and the
// same two panels for several runs' test numbers (renderComparisonPlot).
// Written after every epoch, so it must cope with a single epoch, missing test
// numbers and NaN/Infinity from a diverging run without throwing.

import { Canvas, textHeight, textWidth, type Color } from './canvas.ts';

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  testLoss?: number;
  testAcc?: number;
}

export interface PlotOptions {
  title?: string;
  width?: number;
  height?: number;
  /**
   * Whether accuracies are fractions in [0, 1] (multiplied by 100) or already
   * percentages. Default: fractions if every finite accuracy is <= 1, which on a
   * 10-class problem (chance = 10%) cannot be confused with percentages.
   */
  accuracyAsFraction?: boolean;
}

export const TRAIN_COLOR: Color = [31, 119, 180];
export const TEST_COLOR: Color = [230, 110, 0];
const BACKGROUND: Color = [255, 255, 255];
const INK: Color = [40, 40, 40];
const AXIS: Color = [90, 90, 90];
const GRID: Color = [232, 232, 232];
const MUTED: Color = [120, 120, 120];

interface Series {
  name: string;
  color: Color;
  points: { x: number; y: number }[]; // y may be non-finite: drawn as a gap
}

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Draws the two-panel figure and returns the canvas (plotTraining writes it). */
export function renderTrainingPlot(history: readonly EpochRecord[], opts: PlotOptions = {}): Canvas {
  const width = opts.width ?? 1200;
  const height = opts.height ?? 500;
  const canvas = new Canvas(width, height, BACKGROUND);
  const rows = [...history].filter((r) => Number.isFinite(r.epoch)).sort((a, b) => a.epoch - b.epoch);

  const accs = rows.flatMap((r) => [r.trainAcc, r.testAcc]).filter((v): v is number => Number.isFinite(v));
  const asFraction = opts.accuracyAsFraction ?? accs.every((v) => Math.abs(v) <= 1);
  const pct = (v: number | undefined) => (v === undefined ? undefined : asFraction ? v * 100 : v);
  const hasTest = rows.some((r) => r.testLoss !== undefined || r.testAcc !== undefined);

  const series = (pick: (r: EpochRecord) => number | undefined): Series['points'] =>
    rows.flatMap((r) => {
      const y = pick(r);
      return y === undefined ? [] : [{ x: r.epoch, y }];
    });
  const lossSeries: Series[] = [{ name: 'train', color: TRAIN_COLOR, points: series((r) => r.trainLoss) }];
  const accSeries: Series[] = [{ name: 'train', color: TRAIN_COLOR, points: series((r) => pct(r.trainAcc)) }];
  if (hasTest) {
    lossSeries.push({ name: 'test', color: TEST_COLOR, points: series((r) => r.testLoss) });
    accSeries.push({ name: 'test', color: TEST_COLOR, points: series((r) => pct(r.testAcc)) });
  }

  // Header: title, then one shared legend (outside the panels so it never hides a curve).
  const title = opts.title ?? 'ShuffleNetV1 on CIFAR-10: training history';
  canvas.drawTextCentered(width / 2, 14, title, INK, 2);
  drawLegend(canvas, width / 2, 42, lossSeries);

  const top = 72;
  const gap = 40;
  const panelW = Math.floor((width - 3 * gap) / 2);
  const panelH = height - top - 16;
  // Cross-entropy is never negative, so padding must not push the axis below 0.
  drawPanel(canvas, { x: gap, y: top, w: panelW, h: panelH }, 'Loss', 'loss', lossSeries, [0, Infinity], 3);
  drawPanel(canvas, { x: 2 * gap + panelW, y: top, w: panelW, h: panelH }, 'Accuracy', 'accuracy (%)', accSeries, [0, 100], 1);
  return canvas;
}

/** Renders the figure and writes it atomically as PNG to `path`. */
export function plotTraining(history: readonly EpochRecord[], path: string, opts: PlotOptions = {}): void {
  renderTrainingPlot(history, opts).writePng(path);
}

/** One run of a comparison: its label, its colour and its per-epoch history. */
export interface ComparedRun {
  name: string;
  color: Color;
  history: readonly EpochRecord[];
}

/**
 * Several runs in one figure: test loss and test accuracy per epoch, one line per run (the side by side
 * of two trainers, scripts/torch_twin/side_by_side.ts). Epochs without test numbers are left out.
 */
export function renderComparisonPlot(runs: readonly ComparedRun[], opts: PlotOptions = {}): Canvas {
  const width = opts.width ?? 1200;
  const height = opts.height ?? 500;
  const canvas = new Canvas(width, height, BACKGROUND);
  const accs = runs.flatMap((r) => r.history.map((h) => h.testAcc)).filter((v): v is number => Number.isFinite(v));
  const asFraction = opts.accuracyAsFraction ?? accs.every((v) => Math.abs(v) <= 1);
  const points = (r: ComparedRun, pick: (h: EpochRecord) => number | undefined) =>
    [...r.history].sort((a, b) => a.epoch - b.epoch).flatMap((h) => { const y = pick(h); return y === undefined ? [] : [{ x: h.epoch, y }]; });
  const lossSeries: Series[] = runs.map((r) => ({ name: r.name, color: r.color, points: points(r, (h) => h.testLoss) }));
  const accSeries: Series[] = runs.map((r) => ({ name: r.name, color: r.color, points: points(r, (h) => (h.testAcc === undefined ? undefined : asFraction ? h.testAcc * 100 : h.testAcc)) }));
  canvas.drawTextCentered(width / 2, 14, opts.title ?? 'test loss and accuracy per epoch', INK, 2);
  drawLegend(canvas, width / 2, 42, lossSeries);
  const top = 72, gap = 40;
  const panelW = Math.floor((width - 3 * gap) / 2), panelH = height - top - 16;
  drawPanel(canvas, { x: gap, y: top, w: panelW, h: panelH }, 'Test loss', 'loss', lossSeries, [0, Infinity], 3);
  drawPanel(canvas, { x: 2 * gap + panelW, y: top, w: panelW, h: panelH }, 'Test accuracy', 'top-1 (%)', accSeries, [0, 100], 2);
  return canvas;
}

function drawLegend(canvas: Canvas, cx: number, y: number, series: Series[]): void {
  const itemW = (s: Series) => 28 + textWidth(s.name, 2);
  const total = series.reduce((acc, s) => acc + itemW(s), 0) + 30 * (series.length - 1);
  let x = Math.round(cx - total / 2);
  for (const s of series) {
    const mid = y + textHeight(2) / 2 - 1;
    canvas.drawLine(x, mid, x + 20, mid, s.color, 2);
    canvas.fillCircle(x + 10, mid, 3.5, s.color);
    canvas.drawText(x + 28, y, s.name, INK, 2);
    x += itemW(s) + 30;
  }
}

/**
 * One panel: title with the latest values, axes with tick labels and light
 * grid lines, then each series as a line (broken at non-finite values) with
 * point markers when they are far enough apart to be told apart.
 */
function drawPanel(
  canvas: Canvas,
  box: Rect,
  title: string,
  yLabel: string,
  series: Series[],
  clampY: [number, number],
  digits: number,
): void {
  // Panel title plus "last: train 0.412  test 0.538" so the numbers are readable at a glance.
  // Only the runs whose values fit beside the title within the panel (many runs would run into the next).
  canvas.drawText(box.x, box.y, title, INK, 2);
  const room = box.w - textWidth(title, 2) - 16;
  let last = 'last:';
  for (const s of series) {
    const p = [...s.points].reverse().find((q) => Number.isFinite(q.y));
    const next = p ? `${last}${last === 'last:' ? ' ' : '   '}${s.name} ${p.y.toFixed(digits)}` : last;
    if (textWidth(next, 1) > room) break;
    last = next;
  }
  if (last !== 'last:') canvas.drawText(box.x + textWidth(title, 2) + 16, box.y + 4, last, MUTED, 1);

  const plot: Rect = { x: box.x + 66, y: box.y + 30, w: box.w - 76, h: box.h - 30 - 44 };
  const all = series.flatMap((s) => s.points);
  const finiteY = all.map((p) => p.y).filter(Number.isFinite);
  const xs = all.map((p) => p.x);

  // X axis: epochs, integer ticks when the epochs are integers.
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  const xt = niceTicks(x0, x1, Math.max(2, Math.floor(plot.w / 90)), xs.every(Number.isInteger));
  // Y axis: data range rounded out to nice ticks; accuracy stays within 0..100.
  // Padded a little first so extreme points do not sit on the frame.
  let [y0, y1] = finiteY.length ? [Math.min(...finiteY), Math.max(...finiteY)] : Number.isFinite(clampY[1]) ? clampY : [0, 1];
  if (y0 === y1) [y0, y1] = [y0 - Math.max(Math.abs(y0) * 0.1, 0.5), y1 + Math.max(Math.abs(y1) * 0.1, 0.5)];
  else [y0, y1] = [y0 - (y1 - y0) * 0.04, y1 + (y1 - y0) * 0.04];
  let yt = niceTicks(y0, y1, Math.max(2, Math.floor(plot.h / 45)), false);
  yt = { ...yt, lo: Math.max(clampY[0], yt.lo), hi: Math.min(clampY[1], yt.hi) };

  const px = (x: number) => plot.x + ((x - xt.lo) / (xt.hi - xt.lo)) * plot.w;
  const py = (y: number) => plot.y + plot.h - ((y - yt.lo) / (yt.hi - yt.lo)) * plot.h;

  for (const v of ticksOf(yt)) {
    const y = Math.round(py(v));
    canvas.fillRect(plot.x, y, plot.w, 1, GRID);
    canvas.fillRect(plot.x - 5, y, 5, 1, AXIS);
    const label = formatTick(v, yt.step);
    canvas.drawText(plot.x - 9 - textWidth(label, 1), y - 3, label, INK, 1);
  }
  for (const v of ticksOf(xt)) {
    const x = Math.round(px(v));
    canvas.fillRect(x, plot.y, 1, plot.h, GRID);
    canvas.fillRect(x, plot.y + plot.h, 1, 5, AXIS);
    canvas.drawTextCentered(x, plot.y + plot.h + 9, formatTick(v, xt.step), INK, 1);
  }
  canvas.strokeRect(plot.x, plot.y, plot.w + 1, plot.h + 1, AXIS);
  canvas.drawTextCentered(plot.x + plot.w / 2, plot.y + plot.h + 26, 'epoch', INK, 2);
  canvas.drawTextVertical(box.x, Math.round(plot.y + plot.h / 2 - textWidth(yLabel, 2) / 2), yLabel, INK, 2);

  const skipped = all.length - finiteY.length;
  if (!all.length) canvas.drawTextCentered(plot.x + plot.w / 2, plot.y + plot.h / 2 - 7, 'no data yet', MUTED, 2);
  else if (skipped) canvas.drawText(plot.x + 6, plot.y + 6, `${skipped} non-finite value(s) not shown`, [200, 0, 0], 1);

  for (const s of series) {
    const pts = s.points.map((p) => ({ x: px(p.x), y: py(p.y), ok: Number.isFinite(p.y) }));
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1]!;
      const b = pts[i]!;
      if (a.ok && b.ok) canvas.drawLine(a.x, a.y, b.x, b.y, s.color, 2);
    }
    // Markers only while they stay separate; with hundreds of epochs they would just thicken the line.
    const spacing = pts.length > 1 ? plot.w / (pts.length - 1) : Infinity;
    for (const p of pts) if (p.ok && (spacing >= 8 || pts.length === 1)) canvas.fillCircle(p.x, p.y, 3.5, s.color);
  }
}

interface Ticks {
  lo: number;
  hi: number;
  step: number;
}

/** Axis range rounded out to a 1/2/5 x 10^k step with at most about `maxTicks` ticks. */
export function niceTicks(min: number, max: number, maxTicks: number, integer: boolean): Ticks {
  const raw = (max - min) / Math.max(1, maxTicks - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  let step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.round(step));
  return { lo: Math.floor(min / step) * step, hi: Math.ceil(max / step) * step, step };
}

function ticksOf(t: Ticks): number[] {
  const out: number[] = [];
  // Start at the first step multiple inside [lo, hi] (lo may be clamped off-grid).
  for (let v = Math.ceil(t.lo / t.step - 1e-9) * t.step; v <= t.hi + t.step * 1e-9; v += t.step) out.push(v);
  return out;
}

/** Just enough decimals to tell neighbouring ticks apart. */
function formatTick(v: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return (Math.abs(v) < step * 1e-6 ? 0 : v).toFixed(decimals);
}
