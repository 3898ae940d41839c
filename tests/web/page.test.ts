// The demo page in a real browser: builds the bundle and the page, serves them, and drives headless
// Chromium (playwright-core, the system's chromium binary) through what a user does. Catches: a bundle
// that does not load or run in a page (a Node-only import, a bare `process`), page logits that differ
// from the Node engine's for the same checkpoint and image (each on its own adapter, so the bound is
// f32-between-adapters, 1e-4 rel-L2), a training step in the page that does not learn, the checkpoint
// picker, the drawing path, and a page without WebGPU that fails silently instead of saying so.
// The screenshot after training and classifying lands in .artifacts/web/demo.png (scripts/web/
// screenshot.png is a copy of one, for the README).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { transform } from 'esbuild';
import '../util/gpu.ts';
import { expectClose } from '../util/check.ts';
import { ShuffleNetV1, noGrad, scope } from '../../index.web.ts';
import * as webEntry from '../../index.web.ts';
import { saveCheckpoint } from '../../train/checkpoint_io.ts';
import { buildWeb } from '../../scripts/web/build.ts';
import { serveDir, type Served } from '../../scripts/web/serve.ts';
import { FASHION_MNIST, SIDE, TINY_MODEL, batchImages, classify, modelInput, parseBatch } from '../../scripts/web/demo_model.ts';

const BROWSERS = process.env.CHROMIUM ? [process.env.CHROMIUM] : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
const SAMPLE = 3;                 // the bundled image both sides classify
const STEPS = 3, BATCH = 8, LR = 0.001;  // a few small steps: the loss falls from its value at init

const executable = BROWSERS.find((b) => existsSync(b));
const tmp = mkdtempSync(join(tmpdir(), 'web-test-'));
const ckptFile = join(tmp, 'tiny.safetensors');
let browser: Browser | null = null;
let served: Served | null = null;
let page: Page;
let nodeLogits: Float32Array;

// every test awaits the setup (uvu reports no error thrown by a before-hook), so a missing browser fails each one by name
let setup: Promise<void> | null = null;
const ready = () => (setup ??= prepare());

async function prepare(): Promise<void> {
  if (!executable) {
    throw new Error('the browser test needs Chromium, which is not installed: apt-get install -y chromium ' +
      `(Debian/Ubuntu), or set CHROMIUM=/path/to/chrome (looked for ${BROWSERS.join(', ')})`);
  }
  // the checkpoint both sides load: the page's starting model, with BN statistics of real images
  const batch = parseBatch(new Uint8Array(readFileSync('scripts/web/fashion_mnist_64.bin')));
  const model = new ShuffleNetV1({ ...TINY_MODEL, seed: 1 });
  for (let n0 = 0; n0 < 32; n0 += 16) {
    noGrad(() => scope(() => { model.train().forward(modelInput(batchImages(batch, n0, 16), { N: 16, H: SIDE, W: SIDE }, 32, FASHION_MNIST)); }));
  }
  await saveCheckpoint(ckptFile, model);
  nodeLogits = await classify(model, batchImages(batch, SAMPLE, 1), { N: 1, H: SIDE, W: SIDE }, FASHION_MNIST);
  model.dispose();

  const built = await buildWeb(join(tmp, 'site'));
  served = await serveDir(built.dir, { extra: { '/checkpoint.safetensors': ckptFile } });
  const root = process.getuid?.() === 0; // Chromium's sandbox refuses to run as root
  browser = await chromium.launch({ executablePath: executable, args: ['--enable-unsafe-webgpu', ...(root ? ['--no-sandbox'] : [])] });
  page = await browser.newPage({ viewport: { width: 1200, height: 720 } });
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
}

test.after(async () => {
  await browser?.close();
  await served?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Wait until the page is idle again (an operation started by a click has finished), then check no error shows. */
async function idle(p: Page, what: string): Promise<void> {
  await p.waitForFunction("!['busy', 'loading'].includes(document.body.dataset.state)", null, { timeout: 120_000 });
  const error = await p.locator('#error').evaluate((e) => (e.hidden ? '' : e.textContent));
  assert.is(error, '', `${what}: the page shows an error`);
}

test('the page loads the checkpoint by URL and its logits match the Node engine', async () => {
  await ready();
  await page.goto(`${served!.url}?checkpoint=checkpoint.safetensors`);
  await idle(page, 'loading');
  assert.match(await page.locator('#adapter').textContent() ?? '', /^adapter: .*invocations\/wg/);
  assert.match(await page.locator('#modelDesc').textContent() ?? '', /^checkpoint\.safetensors: ShuffleNetV1 0\.5x g=3, 10 classes, 32x32 \(cifar stem\)/);
  // the bundle exports what the browser entry does, no more and no less
  const names = await page.evaluate(async () => Object.keys(await import('./shufflenet-webgpu.js' as string)).sort());
  assert.equal(names, Object.keys(webEntry).sort());

  await page.locator(`#samples canvas[data-sample="${SAMPLE}"]`).click();
  await idle(page, 'classifying a sample');
  const logits = JSON.parse(await page.locator('#top5').getAttribute('data-logits') ?? '[]') as number[];
  expectClose(logits, nodeLogits, 1e-4, 'page logits vs Node logits');
  assert.is(await page.locator('#top5 li').count(), 5);
  assert.match(await page.locator('#classifyTime').textContent() ?? '', /^\d+ ms/);
});

test('a drawing is classified, and the file picker loads checkpoints (safetensors, MindSpore .ckpt)', async () => {
  await ready();
  const box = (await page.locator('#draw').boundingBox())!;
  await page.mouse.move(box.x + 60, box.y + 40);
  await page.mouse.down();
  for (const [x, y] of [[60, 190], [170, 190], [170, 40]]) await page.mouse.move(box.x + x!, box.y + y!, { steps: 4 });
  await page.mouse.up();
  await idle(page, 'classifying a drawing');
  assert.match(await page.locator('#classifyTime').textContent() ?? '', /^\d+ ms/);
  assert.is(await page.locator('#top5 li').count(), 5);

  await page.locator('#ckptFile').setInputFiles('tests/fixtures/shufflenet_0.5x_g3.ckpt');   // MindSpore's format too
  await idle(page, 'loading a .ckpt by the file picker');
  assert.match(await page.locator('#modelDesc').textContent() ?? '', /^shufflenet_0\.5x_g3\.ckpt: ShuffleNetV1 0\.5x g=3/);
  await page.locator('#ckptFile').setInputFiles(ckptFile);
  await idle(page, 'loading by the file picker');
  assert.match(await page.locator('#modelDesc').textContent() ?? '', /^tiny\.safetensors: ShuffleNetV1 0\.5x/);
});

test('training steps in the page lower the loss', async () => {
  await ready();
  await page.locator('#steps').fill(String(STEPS));
  await page.locator('#batch').selectOption(String(BATCH));
  await page.locator('#lr').fill(String(LR));
  await page.locator('#train').click();
  await idle(page, 'training');
  const losses = JSON.parse(await page.locator('#trainLog').getAttribute('data-losses') ?? '[]') as number[];
  assert.is(losses.length, STEPS, `losses: ${losses}`);
  assert.ok(losses.every(Number.isFinite), `losses: ${losses}`);
  assert.ok(losses.slice(1).every((l) => l < losses[0]!), `every step after the first should have a lower loss than the first: ${losses.map((l) => l.toFixed(4)).join(', ')}`);
  // classified again after training: the screenshot shows the loss curve and the top-5
  await page.locator(`#samples canvas[data-sample="${SAMPLE}"]`).click();
  await idle(page, 'classifying after training');
  mkdirSync('.artifacts/web', { recursive: true });
  await page.screenshot({ path: '.artifacts/web/demo.png' });
});

/**
 * The README's embedding example as a page module: the same code with its file I/O swapped for bytes
 * (saveCheckpoint -> encodeCheckpoint, loadCheckpoint -> applyCheckpoint(decodeCheckpoint(...))), the
 * package name mapped to the served bundle, and TypeScript stripped. Each swap must find its text.
 */
async function readmeExampleForPage(bundleUrl: string): Promise<string> {
  const m = /<!-- example:embed -->\s*```ts\n([\s\S]*?)```/.exec(readFileSync('README.md', 'utf8'));
  assert.ok(m, 'README.md has no `<!-- example:embed -->` ts block');
  let code = m[1]!;
  const swaps: [RegExp, string][] = [
    [/from 'shufflenet-webgpu'/, `from '${bundleUrl}'`],
    [/saveCheckpoint, loadCheckpoint,/, 'encodeCheckpoint, decodeCheckpoint, applyCheckpoint,'],
    [/const file = .*;/, "const file = 'shufflenet-example.safetensors'; let bytes;"],
    [/await saveCheckpoint\(file, model\);/, 'bytes = await encodeCheckpoint(model);'],
    [/await loadCheckpoint\(file\);/, '{ model: applyCheckpoint(decodeCheckpoint(bytes, file), file) };'],
    [/await saveCheckpoint\(file, net\);/, 'bytes = await encodeCheckpoint(net);'],
  ];
  for (const [from, to] of swaps) {
    assert.ok(from.test(code), `README example: no ${from} to swap for a page; update tests/web/page.test.ts with the README`);
    code = code.replace(from, to);
  }
  return (await transform(code, { loader: 'ts', format: 'esm', target: 'es2022' })).code;
}

test('the README embedding example runs in the page with only its file I/O swapped', async () => {
  await ready();
  const code = await readmeExampleForPage(`${served!.url}shufflenet-webgpu.js`);
  const lines: string[] = [];
  const log = (m: { text(): string }) => lines.push(m.text());
  page.on('console', log);
  try {
    await page.evaluate(`import(URL.createObjectURL(new Blob([${JSON.stringify(code)}], { type: 'text/javascript' })))`);
  } finally {
    page.off('console', log);
  }
  const value = (label: string) => {
    const l = lines.find((t) => t.startsWith(label));
    assert.ok(l, `the example printed no '${label}' line in the page; got:\n${lines.join('\n')}`);
    return Number(l.slice(label.length).trim().split(/[ ,]/)[0]);
  };
  const loss = value('loss');
  assert.ok(loss > 1 && loss < 5, `loss ${loss} is not plausible for 10 classes at init`);
  assert.ok(value('classifier.weight grad norm') > 0, 'the classifier got no gradient');
  assert.ok(Number.isFinite(value('first_conv.0.weight[0]')));
});

// page scripts are strings: tsx would wrap a function's inner arrows in a helper the page lacks, and
// this file is type-checked without the DOM library
const NO_WEBGPU = "Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });";
const NO_ADAPTER = 'GPU.prototype.requestAdapter = async () => null;';
const SMALL_WORKGROUPS = `{
  const real = Object.getOwnPropertyDescriptor(GPUDevice.prototype, 'limits').get;
  Object.defineProperty(GPUDevice.prototype, 'limits', { get() {
    const l = real.call(this);
    return new Proxy(l, { get: (t, k) => (k === 'maxComputeInvocationsPerWorkgroup' ? 128 : t[k]) });
  } });
}`;

test('without WebGPU, without an adapter, or with too small an adapter, the page says so', async () => {
  await ready();
  for (const [script, message] of [
    [NO_WEBGPU, /WebGPU is not available in this browser \(navigator\.gpu is undefined\)/],
    [NO_ADAPTER, /navigator\.gpu offers no WebGPU adapter \(requestAdapter\(\) returned null\)/],
    [SMALL_WORKGROUPS, /lacks what the model's kernels need: 256 invocations per workgroup \(it has 128\)/],
  ] as const) {
    const p = await browser!.newPage();
    await p.addInitScript({ content: script });
    await p.goto(served!.url);
    await p.waitForFunction("document.body.dataset.state === 'error'", null, { timeout: 30_000 });
    assert.match(await p.locator('#error').textContent() ?? '', message);
    await p.close();
  }
});

test.run();
