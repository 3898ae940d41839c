// Tests for the CPU-side pictures: canvas + font, PNG output, training plot,
// prediction grid, and reading PNG files back into CHW RGB.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { Canvas, FONT, GLYPH_H, GLYPH_W, glyph, textHeight, textWidth, type Color } from '../../train/pictures/canvas.ts';
import { plotTraining, renderTrainingPlot, TEST_COLOR, TRAIN_COLOR } from '../../train/pictures/plot.ts';
import {
  CORRECT_COLOR,
  predictionGrid,
  predictionGridLayout,
  renderPredictionGrid,
  UNKNOWN_COLOR,
  WRONG_COLOR,
} from '../../train/pictures/prediction_grid.ts';
import { readImageFile } from '../../train/pictures/image_file.ts';
import jpegJs from 'jpeg-js';

const dir = mkdtempSync(join(tmpdir(), 'pictures-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Decoded PNG as a tiny pixel accessor. */
function readPng(path: string) {
  const png = PNG.sync.read(readFileSync(path));
  return {
    width: png.width,
    height: png.height,
    getPixel: (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 4)),
  };
}

type Pixels = { getPixel: (x: number, y: number) => number[] };

/** Counts pixels in [x0, x1) x [y0, y1) whose RGB equals `color` exactly. */
function countColor(img: Pixels, x0: number, y0: number, x1: number, y1: number, color: Color): number {
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const p = img.getPixel(x, y);
      if (p[0] === color[0] && p[1] === color[1] && p[2] === color[2]) n++;
    }
  }
  return n;
}

test('canvas PNG round trip preserves every pixel, and writePng leaves no temp file', () => {
  const c = new Canvas(37, 23, [10, 20, 30]);
  for (let y = 0; y < 23; y++) for (let x = 0; x < 37; x++) if ((x * 7 + y * 3) % 5 === 0) c.setPixel(x, y, [x * 6, y * 11, (x * y) % 256]);
  c.fillRect(3, 4, 5, 6, [200, 100, 50]);
  const back = PNG.sync.read(c.toPng());
  assert.is(back.width, 37);
  assert.is(back.height, 23);
  assert.equal(Array.from(back.data), Array.from(c.data));

  const path = join(dir, 'sub', 'roundtrip.png');
  c.writePng(path);
  assert.equal(Array.from(PNG.sync.read(readFileSync(path)).data), Array.from(c.data));
  assert.equal(readdirSync(join(dir, 'sub')), ['roundtrip.png']);
});

test('drawText inks exactly its bounding box and textWidth matches', () => {
  const c = new Canvas(120, 60);
  const red: Color = [255, 0, 0];
  // 'H' inks its first and last columns and row 0; 'g' inks the descender row: the box is tight on all sides.
  const w = c.drawText(10, 20, 'Hg', red, 2);
  assert.is(w, textWidth('Hg', 2));
  assert.is(w, (2 * (GLYPH_W + 1) - 1) * 2);
  let minX = Infinity, maxX = -1, minY = Infinity, maxY = -1, inked = 0;
  for (let y = 0; y < 60; y++) {
    for (let x = 0; x < 120; x++) {
      const [r, g, b] = c.getPixel(x, y);
      if (r === 255 && g === 255 && b === 255) continue;
      assert.equal([r, g, b], [255, 0, 0], `unexpected colour at ${x},${y}`);
      inked++;
      minX = Math.min(minX, x); maxX = Math.max(maxX, x);
      minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    }
  }
  assert.ok(inked > 20);
  assert.equal([minX, maxX + 1, minY, maxY + 1], [10, 10 + w, 20, 20 + textHeight(2)]);
  assert.is(textWidth(''), 0);
});

test('every printable ASCII glyph is defined and distinct (only space is blank)', () => {
  assert.is(FONT.length, 126 - 32 + 1);
  const seen = new Map<string, string>();
  for (let code = 32; code <= 126; code++) {
    const ch = String.fromCharCode(code);
    const bits = glyph(ch);
    assert.is(bits.length, GLYPH_W * GLYPH_H);
    const ink = bits.reduce((a, b) => a + b, 0);
    if (ch === ' ') {
      assert.is(ink, 0);
      continue;
    }
    assert.ok(ink > 0, `glyph ${JSON.stringify(ch)} is blank`);
    const key = bits.join('');
    assert.not.ok(seen.has(key), `glyph ${JSON.stringify(ch)} looks identical to ${JSON.stringify(seen.get(key))}`);
    seen.set(key, ch);
  }
  // Non-ASCII falls back to '?', not a crash or a blank.
  assert.equal(Array.from(glyph('\u00e9')), Array.from(glyph('?')));
});

test('prediction grid: size, upscaled images, blue label over right, red over wrong', () => {
  const dims = { n: 16, c: 3, h: 32, w: 32 };
  const images = new Uint8Array(16 * 3 * 32 * 32);
  for (let i = 0; i < images.length; i++) images[i] = (i * 37) % 251;
  const names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  const predicted = Array.from({ length: 16 }, (_, i) => i % 10);
  const actual = predicted.map((p, i) => (i % 3 === 1 ? (p + 1) % 10 : p)); // cells 1, 4, 7, ... wrong
  const path = join(dir, 'grid.png');
  predictionGrid(images, dims, predicted, actual, names, path, { cols: 8 });

  const layout = predictionGridLayout(dims, { cols: 8 }, true);
  const img = readPng(path);
  assert.is(layout.scale, 4); // 32x32 -> 128x128
  assert.is(img.width, layout.width);
  assert.is(img.height, layout.height);
  assert.ok(img.width >= 8 * 128 && img.width < 8 * 128 + 200);
  assert.ok(img.height >= 2 * 128 + 2 * textHeight(2) && img.height < 2 * 128 + 200);
  // Two rows of 8 cells.
  assert.is(layout.cells[8]!.x, layout.cells[0]!.x);
  assert.ok(layout.cells[8]!.imageY >= layout.cells[0]!.imageY + 128);

  for (const i of [0, 1, 9, 10]) {
    const cell = layout.cells[i]!;
    const strip = [cell.x, cell.labelY, cell.x + cell.size.w, cell.labelY + cell.labelH] as const;
    const blue = countColor(img, ...strip, CORRECT_COLOR);
    const red = countColor(img, ...strip, WRONG_COLOR);
    if (predicted[i] === actual[i]) {
      assert.ok(blue > 0 && red === 0, `cell ${i} (right) has blue=${blue} red=${red}`);
    } else {
      assert.ok(red > 0 && blue === 0, `cell ${i} (wrong) has blue=${blue} red=${red}`);
    }
    // Image pixel (sy, sx) fills a 4x4 block at the right place, channels from the CHW planes.
    const base = i * 3 * 32 * 32;
    for (const [sy, sx] of [[0, 0], [5, 17], [31, 31]] as const) {
      const want = [0, 1, 2].map((ch) => images[base + ch * 1024 + sy * 32 + sx]!);
      for (const [dy, dx] of [[0, 0], [3, 3]]) {
        assert.equal(img.getPixel(cell.x + sx * 4 + dx!, cell.imageY + sy * 4 + dy!).slice(0, 3), want);
      }
    }
  }

  // Unknown truth: captions are black, and a grey (C = 1) batch works.
  const grey = renderPredictionGrid(images.subarray(0, 2 * 32 * 32), { n: 2, c: 1, h: 32, w: 32 }, [3, 5], null, names);
  const lay2 = predictionGridLayout({ n: 2, c: 1, h: 32, w: 32 }, {}, true);
  const c0 = lay2.cells[0]!;
  assert.ok(countColor(grey, c0.x, c0.labelY, c0.x + c0.size.w, c0.labelY + c0.labelH, UNKNOWN_COLOR) > 0);
  const v = images[7 * 32 + 9]!;
  assert.equal(grey.getPixel(c0.x + 9 * 4, c0.imageY + 7 * 4).slice(0, 3), [v, v, v]);
});

test('training plot: PNG of the expected size with both curves in both panels', () => {
  const history = Array.from({ length: 6 }, (_, i) => ({
    epoch: i + 1,
    trainLoss: 2.3 - 0.3 * i,
    trainAcc: 0.1 + 0.1 * i,
    testLoss: i === 3 ? NaN : 2.2 - 0.25 * i,
    testAcc: 0.12 + 0.09 * i,
  }));
  const path = join(dir, 'plot.png');
  plotTraining(history, path);
  const img = readPng(path);
  assert.is(img.width, 1200);
  assert.is(img.height, 500);
  const half = img.width / 2;
  for (const [x0, x1] of [[0, half], [half, img.width]] as const) {
    assert.ok(countColor(img, x0, 80, x1, img.height, TRAIN_COLOR) > 30, `train curve missing in panel at x=${x0}`);
    assert.ok(countColor(img, x0, 80, x1, img.height, TEST_COLOR) > 30, `test curve missing in panel at x=${x0}`);
  }

  // One epoch, no test numbers, custom size: still draws a marker in each panel.
  const one = renderTrainingPlot([{ epoch: 1, trainLoss: 2.1, trainAcc: 0.2 }], { width: 800, height: 400 });
  assert.is(one.width, 800);
  assert.is(one.height, 400);
  assert.ok(countColor(one, 0, 80, 400, 400, TRAIN_COLOR) > 5);
  assert.ok(countColor(one, 400, 80, 800, 400, TRAIN_COLOR) > 5);
  assert.is(countColor(one, 0, 0, 800, 400, TEST_COLOR), 0);
  // All-NaN and empty histories must not throw.
  renderTrainingPlot([{ epoch: 1, trainLoss: NaN, trainAcc: NaN, testLoss: Infinity, testAcc: NaN }]);
  renderTrainingPlot([]);
});

test('readImageFile returns CHW RGB pixels and names the path on bad files', () => {
  const w = 5, h = 3;
  const png = new PNG({ width: w, height: h });
  for (let p = 0; p < w * h; p++) png.data.set([p * 10, 255 - p * 10, (p * 77) % 256, p % 2 ? 0 : 255], p * 4);
  const path = join(dir, 'rgba.png');
  writeFileSync(path, PNG.sync.write(png));
  const img = readImageFile(path);
  assert.equal([img.c, img.h, img.w, img.data.length], [3, h, w, 3 * h * w]);
  for (let p = 0; p < w * h; p++) {
    assert.equal([img.data[p], img.data[w * h + p], img.data[2 * w * h + p]], [p * 10, 255 - p * 10, (p * 77) % 256]);
  }

  // Greyscale PNG comes back as three equal planes.
  const grey = new PNG({ width: 2, height: 2 });
  for (let p = 0; p < 4; p++) grey.data.set([p * 60, p * 60, p * 60, 255], p * 4);
  const greyPath = join(dir, 'grey.png');
  writeFileSync(greyPath, PNG.sync.write(grey, { colorType: 0 }));
  const g = readImageFile(greyPath);
  assert.equal(Array.from(g.data), [0, 60, 120, 180, 0, 60, 120, 180, 0, 60, 120, 180]);

  const corrupt = join(dir, 'corrupt.png');
  writeFileSync(corrupt, Buffer.concat([readFileSync(path).subarray(0, 40), Buffer.from('garbage')]));
  assert.throws(() => readImageFile(corrupt), (e: Error) => e.message.includes(corrupt));
  const jpeg = join(dir, 'truncated.jpg');
  writeFileSync(jpeg, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
  assert.throws(() => readImageFile(jpeg), (e: Error) => e.message.includes(jpeg) && e.message.includes('JPEG'));
  const missing = join(dir, 'nope.png');
  assert.throws(() => readImageFile(missing), (e: Error) => e.message.includes(missing));
});

test('readImageFile decodes JPEG to CHW RGB (within JPEG rounding of the encoded pixels)', () => {
  const w = 16, h = 8, rgba = new Uint8Array(w * h * 4);
  const colour = (x: number, y: number) => (x < 8 ? [200, 30, 40] : [20, 60 + 8 * y, 220]);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgba.set([...colour(x, y), 255], (y * w + x) * 4);
  const path = join(dir, 'photo.jpg');
  writeFileSync(path, jpegJs.encode({ width: w, height: h, data: rgba }, 95).data);
  const img = readImageFile(path);
  assert.equal([img.c, img.h, img.w], [3, h, w]);
  let worst = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const want = colour(x, y);
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(img.data[c * w * h + y * w + x]! - want[c]!));
    }
  }
  assert.ok(worst <= 24, `JPEG pixels off by up to ${worst}`);
});

test.run();
