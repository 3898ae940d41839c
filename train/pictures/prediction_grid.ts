// Prediction-grid picture, after the figure in MindSpore's ShuffleNet tutorial:
// test images in rows (8 per row by default), each upscaled with nearest
// neighbour and captioned with its predicted class name, blue when the
// prediction is right, red when wrong, black when the true label is unknown.

import { Canvas, textHeight, textWidth, type Color } from './canvas.ts';

export const CORRECT_COLOR: Color = [0, 70, 230];
export const WRONG_COLOR: Color = [220, 20, 20];
export const UNKNOWN_COLOR: Color = [0, 0, 0];
const BACKGROUND: Color = [255, 255, 255];
const INK: Color = [40, 40, 40];

export interface GridDims {
  n: number;
  c: number;
  h: number;
  w: number;
}

export interface GridOptions {
  /** Images per row (default 8). */
  cols?: number;
  /** Upscale factor (default: whatever brings the image to about 128 px, e.g. 4 for CIFAR's 32x32). */
  scale?: number;
  /** Header line; null for none. Default summarises how many are correct. */
  title?: string | null;
}

/** Where everything goes; exported so tests (and callers) can find a cell's label strip. */
export interface GridLayout {
  width: number;
  height: number;
  scale: number;
  textScale: number;
  cells: { x: number; labelY: number; labelH: number; imageY: number; size: { w: number; h: number } }[];
}

const MARGIN = 16;
const GAP = 12;
const LABEL_PAD = 6;

export function predictionGridLayout(dims: GridDims, opts: GridOptions = {}, hasTitle = false): GridLayout {
  const cols = Math.max(1, Math.min(opts.cols ?? 8, dims.n));
  const scale = opts.scale ?? Math.max(1, Math.round(128 / Math.max(dims.h, dims.w)));
  const cellW = dims.w * scale;
  const cellH = dims.h * scale;
  // Big captions when the cell is wide enough for "automobile" (10 chars) at 2x, small otherwise.
  const textScale = cellW >= textWidth('automobile', 2) ? 2 : 1;
  const labelH = textHeight(textScale) + 2 * LABEL_PAD;
  const titleH = hasTitle ? textHeight(2) + 12 : 0;
  const rows = Math.ceil(dims.n / cols);
  const cells: GridLayout['cells'] = [];
  for (let i = 0; i < dims.n; i++) {
    const x = MARGIN + (i % cols) * (cellW + GAP);
    const labelY = MARGIN + titleH + Math.floor(i / cols) * (labelH + cellH + GAP);
    cells.push({ x, labelY, labelH, imageY: labelY + labelH, size: { w: cellW, h: cellH } });
  }
  return {
    width: 2 * MARGIN + cols * cellW + (cols - 1) * GAP,
    height: 2 * MARGIN + titleH + rows * (labelH + cellH) + (rows - 1) * GAP,
    scale,
    textScale,
    cells,
  };
}

/** Draws the grid and returns the canvas (predictionGrid writes it). */
export function renderPredictionGrid(
  images: Uint8Array,
  dims: GridDims,
  predicted: readonly number[],
  actual: readonly number[] | null,
  classNames: readonly string[],
  opts: GridOptions = {},
): Canvas {
  const { n, c, h, w } = dims;
  if (c !== 1 && c !== 3) throw new Error(`predictionGrid: expected 1 or 3 channels, got ${c}`);
  if (n < 1) throw new Error('predictionGrid: no images');
  if (images.length < n * c * h * w) {
    throw new Error(`predictionGrid: images has ${images.length} bytes, dims ${n}x${c}x${h}x${w} need ${n * c * h * w}`);
  }
  if (predicted.length < n) throw new Error(`predictionGrid: ${predicted.length} predictions for ${n} images`);
  if (actual && actual.length < n) throw new Error(`predictionGrid: ${actual.length} true labels for ${n} images`);

  const nameOf = (k: number) => classNames[k] ?? `class ${k}`;
  let title = opts.title;
  if (title === undefined) {
    const right = actual ? predicted.slice(0, n).filter((p, i) => p === actual[i]).length : 0;
    title = actual ? `Predicted classes: ${right}/${n} correct (blue = right, red = wrong)` : 'Predicted classes';
  }
  const layout = predictionGridLayout(dims, opts, title !== null);
  const canvas = new Canvas(layout.width, layout.height, BACKGROUND);
  if (title !== null) {
    // Narrow grids (few columns) get the small font rather than a clipped title.
    const ts = textWidth(title, 2) <= layout.width - 2 * MARGIN ? 2 : 1;
    canvas.drawTextCentered(layout.width / 2, MARGIN + (ts === 2 ? 0 : 4), title, INK, ts);
  }

  const per = c * h * w;
  for (let i = 0; i < n; i++) {
    const cell = layout.cells[i]!;
    const color = actual === null ? UNKNOWN_COLOR : predicted[i] === actual[i] ? CORRECT_COLOR : WRONG_COLOR;
    const label = fitText(nameOf(predicted[i]!), cell.size.w, layout.textScale);
    canvas.drawTextCentered(cell.x + cell.size.w / 2, cell.labelY + LABEL_PAD, label, color, layout.textScale);
    canvas.blitImage(images.subarray(i * per, (i + 1) * per), { c, h, w }, cell.x, cell.imageY, layout.scale);
  }
  return canvas;
}

/** Renders the grid and writes it atomically as PNG to `path`. */
export function predictionGrid(
  images: Uint8Array,
  dims: GridDims,
  predicted: readonly number[],
  actual: readonly number[] | null,
  classNames: readonly string[],
  path: string,
  opts: GridOptions = {},
): void {
  renderPredictionGrid(images, dims, predicted, actual, classNames, opts).writePng(path);
}

/** Truncates with '..' so a long class name never spills into the neighbouring cell. */
function fitText(text: string, maxW: number, scale: number): string {
  if (textWidth(text, scale) <= maxW) return text;
  let t = text;
  while (t.length > 1 && textWidth(`${t}..`, scale) > maxW) t = t.slice(0, -1);
  return `${t}..`;
}
