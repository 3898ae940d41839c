// Reads a picture file from disk into the planar CHW RGB uint8 layout the
// model's input pipeline uses (same layout as the CIFAR-10 binaries).
// PNG through pngjs, JPEG through jpeg-js (baseline and progressive).

import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';

export interface DecodedImage {
  /** Planar RGB: all reds, then all greens, then all blues; length 3*h*w. */
  data: Uint8Array;
  h: number;
  w: number;
  c: 3;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Decodes a PNG (grey, palette, RGB or RGBA, 8 or 16 bit: pngjs normalises all
 * of them to 8-bit RGBA) and drops the alpha channel. Errors always name the
 * path, since the caller is usually a CLI handed a file by a person.
 */
export function readImageFile(path: string): DecodedImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`readImageFile: cannot read ${path}: ${(err as Error).message}`);
  }
  const format = sniffFormat(bytes);
  let rgba: Uint8Array, w: number, h: number;
  if (format === 'png') {
    // the chunk structure first: pngjs's own messages for a damaged file are about its stream internals
    const problem = pngChunkProblem(bytes);
    if (problem) throw new Error(`readImageFile: ${path}: corrupt PNG: ${problem}`);
    let png: PNG;
    try {
      png = PNG.sync.read(bytes);
    } catch (err) {
      throw new Error(`readImageFile: ${path}: corrupt PNG: its image data cannot be decoded (pngjs: ${(err as Error).message})`);
    }
    ({ width: w, height: h } = png);
    rgba = png.data;
  } else if (format === 'jpeg') {
    try {
      // bounded, so a hostile header cannot make the decoder allocate gigabytes
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 100, maxMemoryUsageInMB: 1024 });
      ({ width: w, height: h } = img);
      rgba = img.data;
    } catch (err) {
      throw new Error(`readImageFile: ${path}: corrupt, truncated or unsupported JPEG (${(err as Error).message})`);
    }
  } else {
    const what = format === 'unknown' ? 'not a recognised image format' : `${format.toUpperCase()} is not supported`;
    throw new Error(`readImageFile: ${path}: ${what} (PNG and JPEG can be read)`);
  }
  const plane = h * w;
  const data = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    data[p] = rgba[4 * p]!;
    data[plane + p] = rgba[4 * p + 1]!;
    data[2 * plane + p] = rgba[4 * p + 2]!;
  }
  return { data, h, w, c: 3 };
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** What is wrong with a PNG's chunks (truncated, a bad CRC, no IHDR first or no IEND), or null. */
export function pngChunkProblem(b: Uint8Array): string | null {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 8;
  for (let first = true; ; first = false) {
    if (pos + 8 > b.length) return `truncated: the file ends at byte ${b.length} without an IEND chunk`;
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...b.subarray(pos + 4, pos + 8));
    if (first && type !== 'IHDR') return `the first chunk is '${type}', not IHDR`;
    if (pos + 12 + len > b.length) return `truncated: chunk '${type}' at byte ${pos} needs ${12 + len} bytes, the file ends after ${b.length - pos}`;
    if (crc32(b.subarray(pos + 4, pos + 8 + len)) !== view.getUint32(pos + 8 + len)) return `chunk '${type}' at byte ${pos} is damaged (its CRC does not match)`;
    if (type === 'IEND') return null;
    pos += 12 + len;
  }
}

/** Identifies the format from its first bytes rather than trusting the file extension. */
function sniffFormat(b: Uint8Array): 'png' | 'jpeg' | 'gif' | 'bmp' | 'webp' | 'unknown' {
  if (PNG_MAGIC.every((v, i) => b[i] === v)) return 'png';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (ascii(0, 4) === 'GIF8') return 'gif';
  if (ascii(0, 2) === 'BM') return 'bmp';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return 'unknown';
}
