// A tiny CPU-side RGBA raster for the pictures the training program writes
// (loss curves, prediction grids). It knows rectangles, anti-aliased lines,
// nearest-neighbour image blits and a built-in 5x7 bitmap font (plus a descender row), and saves
// itself as PNG through pngjs. No GPU, no native dependencies.

import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';

/** [r, g, b] or [r, g, b, a], each 0..255. Alpha < 255 blends over what is there. */
export type Color = readonly [number, number, number] | readonly [number, number, number, number];

export const WHITE: Color = [255, 255, 255];
export const BLACK: Color = [0, 0, 0];

/**
 * Glyph cell: 5 columns x 8 rows. Capitals and digits use rows 0..6 (row 6 is
 * the baseline); row 7 holds only the descenders of g j p q y, which squashed
 * into 7 rows read as other letters ("jumps" looked like "jumes").
 * Advancing adds 1 column of spacing.
 */
export const GLYPH_W = 5;
export const GLYPH_H = 8;
const ADVANCE = GLYPH_W + 1;

// Classic 5x7 LCD font for ASCII 32..126 (with real descenders added). Each glyph
// is 5 bytes (10 hex digits), one byte per column left to right, bit 0 = top row. Kept as hex so the whole
// table stays readable in a few lines; decoded once into bitmaps below.
const FONT_HEX = [
  // space ! " # $ % & '
  '0000000000', '00005f0000', '0007000700', '147f147f14', '242a7f2a12', '2313086462', '3649552250', '0005030000',
  // ( ) * + , - . /
  '001c224100', '0041221c00', '082a1c2a08', '08083e0808', '0050300000', '0808080808', '0060600000', '2010080402',
  // 0 1 2 3 4 5 6 7
  '3e5149453e', '00427f4000', '4261514946', '214145473b', '1814127f10', '2745454539', '3c4a494930', '0171090503',
  // 8 9 : ; < = > ?
  '3649494936', '064949291e', '0036360000', '0056360000', '0814224100', '1414141414', '0041221408', '0201510906',
  // @ A B C D E F G
  '324979413e', '7e1111117e', '7f49494936', '3e41414122', '7f4141221c', '7f49494941', '7f09090101', '3e4149497a',
  // H I J K L M N O
  '7f0808087f', '00417f4100', '2040413f01', '7f08142241', '7f40404040', '7f020c027f', '7f0408107f', '3e4141413e',
  // P Q R S T U V W
  '7f09090906', '3e4151215e', '7f09192946', '4649494931', '01017f0101', '3f4040403f', '1f2040201f', '3f4038403f',
  // X Y Z [ \ ] ^ _
  '6314081463', '0708700807', '6151494543', '007f414100', '0204081020', '0041417f00', '0402010204', '4040404040',
  // ` a b c d e f g
  '0001020400', '2054545478', '7f48444438', '3844444420', '384444487f', '3854545418', '087e090102', '18a4a4a47c',
  // h i j k l m n o
  '7f08040478', '00447d4000', '4080807d00', '007f102844', '00417f4000', '7c04180478', '7c08040478', '3844444438',
  // p q r s t u v w
  'fc24242418', '18242424fc', '7c08040408', '4854545420', '043f444020', '3c4040207c', '1c2040201c', '3c4030403c',
  // x y z { | } ~
  '4428102844', '1ca0a0a07c', '4464544c44', '0008364100', '00007f0000', '0041360800', '0201020402',
];

/** Decoded font: FONT[code - 32][row * 5 + col] = 1 where there is ink. */
export const FONT: readonly Uint8Array[] = FONT_HEX.map((hex) => {
  const bitmap = new Uint8Array(GLYPH_W * GLYPH_H);
  for (let col = 0; col < GLYPH_W; col++) {
    const bits = parseInt(hex.slice(col * 2, col * 2 + 2), 16);
    for (let row = 0; row < GLYPH_H; row++) if ((bits >> row) & 1) bitmap[row * GLYPH_W + col] = 1;
  }
  return bitmap;
});

/** Bitmap for one character; anything outside printable ASCII renders as '?'. */
export function glyph(ch: string): Uint8Array {
  const code = ch.charCodeAt(0);
  return FONT[code >= 32 && code <= 126 ? code - 32 : '?'.charCodeAt(0) - 32]!;
}

/** Width in pixels of `text` drawn at `scale` (no trailing spacing column). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (text.length * ADVANCE - 1) * scale;
}

/** Height in pixels of one line of text at `scale`. */
export function textHeight(scale = 1): number {
  return GLYPH_H * scale;
}

/** Shape of a planar (CHW) uint8 image: c = 1 (grey) or 3 (RGB). */
export interface ImageDims {
  c: number;
  h: number;
  w: number;
}

export class Canvas {
  /** Row-major RGBA, 4 bytes per pixel, exactly what pngjs wants. */
  readonly data: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Color = WHITE) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new Error(`Canvas: bad size ${width}x${height}`);
    }
    this.data = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  static create(width: number, height: number, background: Color = WHITE): Canvas {
    return new Canvas(width, height, background);
  }

  /** Paints one pixel; out-of-bounds writes are ignored so callers need not clip. */
  setPixel(x: number, y: number, color: Color, coverage = 1): void {
    x = Math.floor(x);
    y = Math.floor(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 4;
    const a = ((color[3] ?? 255) / 255) * coverage;
    if (a >= 1) {
      this.data[i] = color[0];
      this.data[i + 1] = color[1];
      this.data[i + 2] = color[2];
      this.data[i + 3] = 255;
    } else if (a > 0) {
      // Blend over what is already there (used by anti-aliased line edges).
      const d = this.data;
      d[i] = Math.round(d[i]! + (color[0] - d[i]!) * a);
      d[i + 1] = Math.round(d[i + 1]! + (color[1] - d[i + 1]!) * a);
      d[i + 2] = Math.round(d[i + 2]! + (color[2] - d[i + 2]!) * a);
      d[i + 3] = Math.round(d[i + 3]! + (255 - d[i + 3]!) * a);
    }
  }

  /** [r, g, b, a] at (x, y). */
  getPixel(x: number, y: number): [number, number, number, number] {
    const i = (y * this.width + x) * 4;
    return [this.data[i]!, this.data[i + 1]!, this.data[i + 2]!, this.data[i + 3]!];
  }

  fillRect(x: number, y: number, w: number, h: number, color: Color): void {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.floor(x + w));
    const y1 = Math.min(this.height, Math.floor(y + h));
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) this.setPixel(xx, yy, color);
  }

  /** Rectangle outline drawn inside (x, y, w, h). */
  strokeRect(x: number, y: number, w: number, h: number, color: Color, thickness = 1): void {
    this.fillRect(x, y, w, thickness, color);
    this.fillRect(x, y + h - thickness, w, thickness, color);
    this.fillRect(x, y, thickness, h, color);
    this.fillRect(x + w - thickness, y, thickness, h, color);
  }

  /**
   * Anti-aliased line with round caps. Coordinates are pixel indices (pixel
   * (px, py) is sampled at exactly (px, py)), so a 1px horizontal line at an
   * integer y is crisp. Coverage comes from the distance to the segment, which
   * handles any thickness and slope with one loop.
   */
  drawLine(x0: number, y0: number, x1: number, y1: number, color: Color, thickness = 1): void {
    const r = thickness / 2;
    const dx = x1 - x0;
    const dy = y1 - y0;
    const len2 = dx * dx + dy * dy;
    const minX = Math.max(0, Math.floor(Math.min(x0, x1) - r - 1));
    const maxX = Math.min(this.width - 1, Math.ceil(Math.max(x0, x1) + r + 1));
    const minY = Math.max(0, Math.floor(Math.min(y0, y1) - r - 1));
    const maxY = Math.min(this.height - 1, Math.ceil(Math.max(y0, y1) + r + 1));
    for (let py = minY; py <= maxY; py++) {
      for (let px = minX; px <= maxX; px++) {
        // Closest point on the segment, then distance to it.
        const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - x0) * dx + (py - y0) * dy) / len2));
        const ex = px - (x0 + t * dx);
        const ey = py - (y0 + t * dy);
        const coverage = Math.min(1, r + 0.5 - Math.sqrt(ex * ex + ey * ey));
        if (coverage > 0) this.setPixel(px, py, color, coverage);
      }
    }
  }

  /** Filled disc (plot markers). */
  fillCircle(cx: number, cy: number, radius: number, color: Color): void {
    this.drawLine(cx, cy, cx, cy, color, radius * 2);
  }

  /**
   * Copies a planar CHW uint8 image (c = 1 grey or 3 RGB) with its top-left at
   * (x, y), each source pixel becoming a scale x scale block (nearest neighbour,
   * so small CIFAR images stay sharp instead of blurring).
   */
  blitImage(image: Uint8Array, dims: ImageDims, x: number, y: number, scale = 1): void {
    const { c, h, w } = dims;
    if (c !== 1 && c !== 3) throw new Error(`blitImage: expected 1 or 3 channels, got ${c}`);
    if (image.length < c * h * w) throw new Error(`blitImage: image has ${image.length} bytes, need ${c * h * w}`);
    const plane = h * w;
    for (let sy = 0; sy < h; sy++) {
      for (let sx = 0; sx < w; sx++) {
        const p = sy * w + sx;
        const r = image[p]!;
        const color: Color = c === 3 ? [r, image[plane + p]!, image[2 * plane + p]!] : [r, r, r];
        this.fillRect(x + sx * scale, y + sy * scale, scale, scale, color);
      }
    }
  }

  /** Draws one line of text with its top-left at (x, y); returns its width. */
  drawText(x: number, y: number, text: string, color: Color, scale = 1): number {
    for (let k = 0; k < text.length; k++) {
      const bitmap = glyph(text[k]!);
      const gx = x + k * ADVANCE * scale;
      for (let row = 0; row < GLYPH_H; row++) {
        for (let col = 0; col < GLYPH_W; col++) {
          if (bitmap[row * GLYPH_W + col]) this.fillRect(gx + col * scale, y + row * scale, scale, scale, color);
        }
      }
    }
    return textWidth(text, scale);
  }

  /** Text whose horizontal centre is at cx. */
  drawTextCentered(cx: number, y: number, text: string, color: Color, scale = 1): void {
    this.drawText(Math.round(cx - textWidth(text, scale) / 2), y, text, color, scale);
  }

  /** Text read bottom-to-top (rotated 90 degrees counter-clockwise), top-left of its box at (x, y). */
  drawTextVertical(x: number, y: number, text: string, color: Color, scale = 1): void {
    const len = textWidth(text, scale);
    for (let k = 0; k < text.length; k++) {
      const bitmap = glyph(text[k]!);
      for (let row = 0; row < GLYPH_H; row++) {
        for (let col = 0; col < GLYPH_W; col++) {
          if (!bitmap[row * GLYPH_W + col]) continue;
          // Glyph column runs up the page, glyph row runs right.
          const u = k * ADVANCE + col;
          this.fillRect(x + row * scale, y + len - (u + 1) * scale, scale, scale, color);
        }
      }
    }
  }

  toPng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png);
  }

  /** Writes the PNG atomically: readers never see a half-written file. */
  writePng(path: string): void {
    writeFileAtomic(path, this.toPng());
  }
}

export function createCanvas(width: number, height: number, background: Color = WHITE): Canvas {
  return new Canvas(width, height, background);
}

/** Write to a temp file in the same directory, then rename over the target. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // temp file may never have been created
    }
    throw err;
  }
}
