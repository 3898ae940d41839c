// The demo page (scripts/web/index.html): load a checkpoint (.safetensors or MindSpore .ckpt: a
// ?checkpoint=URL fetched at start, the file picker, or a drop) or start from a fresh 0.5x model;
// classify a drawing, an image or a bundled sample (top-5 with bars, time taken); train a few steps on
// the bundled batch with a live loss curve.
// It uses the engine only through the package's browser entry, bundled as ./shufflenet-webgpu.js.
// body[data-state] (loading | ready | busy | error), #top5[data-logits] and #trainLog[data-losses]
// let tests/web drive the page and read its results.
import {
  Sgd, ShuffleNetV1, applyCheckpoint, decodeCheckpoint, describeDevice, encodeCheckpoint, initDevice,
  type Checkpoint,
} from '../../index.web.ts';
import {
  CIFAR10, FASHION_MNIST, SIDE, TINY_MODEL, classify, deviceShortfalls, parseBatch, topK, trainSteps,
  type Batch, type DatasetInfo,
} from './demo_model.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const errorBox = $<HTMLDivElement>('error');

let model: ShuffleNetV1 | null = null;
let opt: Sgd | null = null;
let dataset: DatasetInfo = FASHION_MNIST;
let batch: Batch | null = null;
let losses: number[] = [];
let firstClassify = true;

function showError(e: unknown): void {
  errorBox.textContent = e instanceof Error ? e.message : String(e);
  errorBox.hidden = false;
  console.error(e);
}

// one operation at a time: a model swapped out during a training step would be disposed under it
let busy = false;
async function run(fn: () => Promise<void>): Promise<void> {
  if (busy) return;
  busy = true;
  document.body.dataset.state = 'busy';
  for (const b of document.querySelectorAll<HTMLButtonElement>('button')) b.disabled = true;
  errorBox.hidden = true;
  try { await fn(); } catch (e) { showError(e); } finally {
    busy = false;
    for (const b of document.querySelectorAll<HTMLButtonElement>('button')) b.disabled = false;
    document.body.dataset.state = model ? 'ready' : 'error';
  }
}

/** The dataset a checkpoint was trained on, as its training record says; Fashion-MNIST otherwise. */
function datasetOf(ck: Checkpoint | null): { ds: DatasetInfo; note: string } {
  const named = (ck?.training?.config as { dataset?: string } | undefined)?.dataset;
  if (named === 'cifar10') return { ds: CIFAR10, note: '' };
  if (named === 'fashion-mnist' || !ck) return { ds: FASHION_MNIST, note: '' };
  return { ds: FASHION_MNIST, note: ' (it names no dataset: Fashion-MNIST classes assumed)' };
}

function setModel(m: ShuffleNetV1, source: string, ck: Checkpoint | null): void {
  opt?.dispose();
  model?.dispose();
  model = m;
  opt = new Sgd(m.parameters());
  const { ds, note } = datasetOf(ck);
  dataset = ds;
  const c = m.config;
  // what reading it assumed (a MindSpore file's stem, state left behind) is said, not hidden
  const notes = ck?.notes.length ? `. ${ck.notes.join('. ')}` : '';
  $('modelDesc').textContent = `${source}: ShuffleNetV1 ${c.size} g=${c.group}, ${c.classes} classes, ${c.imageSize}x${c.imageSize} (${c.stem} stem), ${ds.name}${note}${notes}`;
  $('modelDesc').dataset.source = source;
  losses = [];
  drawLoss();
  $('top5').replaceChildren();
}

const newModel = () => setModel(new ShuffleNetV1({ ...TINY_MODEL, seed: 1 }), 'new 0.5x model (seed 1, untrained)', null);

function loadBytes(bytes: Uint8Array, source: string): void {
  const ck = decodeCheckpoint(bytes, source);
  setModel(applyCheckpoint(ck, source), source, ck);
}

// ---- classification

function classNames(): readonly string[] {
  return model && model.config.classes === dataset.classes.length ? dataset.classes : Array.from({ length: model?.config.classes ?? 0 }, (_, k) => `class ${k}`);
}

/** Classify the pixels of `src` as the model sees them: 28x28 gray (Fashion-MNIST) or imageSize RGB. */
async function classifyImage(src: CanvasImageSource, invertIfLight: boolean): Promise<void> {
  if (!model) return;
  const side = dataset.gray ? SIDE : model.config.imageSize;
  const c = document.createElement('canvas');
  c.width = c.height = side;
  const g = c.getContext('2d', { willReadFrequently: true })!;
  g.imageSmoothingQuality = 'high';
  g.drawImage(src, 0, 0, side, side);
  const rgba = g.getImageData(0, 0, side, side).data;
  const plane = side * side;
  const px = new Uint8Array(3 * plane);
  let border = 0;
  for (let i = 0; i < plane; i++) {
    const [r, gg, b] = [rgba[4 * i]!, rgba[4 * i + 1]!, rgba[4 * i + 2]!];
    const y = Math.round(0.299 * r + 0.587 * gg + 0.114 * b);
    if (dataset.gray) px[i] = px[plane + i] = px[2 * plane + i] = y;
    else { px[i] = r; px[plane + i] = gg; px[2 * plane + i] = b; }
    const x = i % side, yy = Math.floor(i / side);
    if (x === 0 || yy === 0 || x === side - 1 || yy === side - 1) border += y;
  }
  // Fashion-MNIST shows light clothes on black: a photo on a light background is inverted to match
  const inverted = dataset.gray && invertIfLight && border / (4 * side - 4) > 127;
  if (inverted) for (let i = 0; i < px.length; i++) px[i] = 255 - px[i]!;
  await classifyPixels(px, side, side, inverted ? ' (inverted: light background)' : '');
}

async function classifyPixels(px: Uint8Array, H: number, W: number, note = ''): Promise<void> {
  if (!model) return;
  showPreview(px, H, W);
  const t0 = performance.now();
  const logits = await classify(model, px, { N: 1, H, W }, dataset);
  const ms = performance.now() - t0;
  const names = classNames();
  const list = $('top5');
  list.dataset.logits = JSON.stringify(Array.from(logits));
  list.replaceChildren(...topK(logits).map(({ index, p }) => {
    const li = document.createElement('li');
    li.innerHTML = `<span></span><div class="bar"><div style="width:${(100 * p).toFixed(1)}%"></div></div><span>${(100 * p).toFixed(1)}%</span>`;
    li.firstElementChild!.textContent = names[index] ?? `class ${index}`;
    return li;
  }));
  $('classifyTime').textContent = `${ms.toFixed(0)} ms on the GPU and back${note}` + (firstClassify ? ' (the first run compiles the kernels)' : '');
  firstClassify = false;
}

function showPreview(px: Uint8Array, H: number, W: number): void {
  const c = $<HTMLCanvasElement>('preview');
  c.width = W; c.height = H;
  const g = c.getContext('2d')!;
  const img = g.createImageData(W, H);
  for (let i = 0; i < H * W; i++) {
    img.data.set([px[i]!, px[H * W + i]!, px[2 * H * W + i]!, 255], 4 * i);
  }
  g.putImageData(img, 0, 0);
}

// ---- drawing

const draw = $<HTMLCanvasElement>('draw');
const pen = draw.getContext('2d')!;
function clearDrawing(): void { pen.fillStyle = '#000'; pen.fillRect(0, 0, draw.width, draw.height); }
clearDrawing();
let last: [number, number] | null = null;
const at = (e: PointerEvent): [number, number] => {
  const r = draw.getBoundingClientRect();
  return [(e.clientX - r.left) * draw.width / r.width, (e.clientY - r.top) * draw.height / r.height];
};
draw.addEventListener('pointerdown', (e) => { last = at(e); draw.setPointerCapture(e.pointerId); stroke(e); });
draw.addEventListener('pointermove', (e) => { if (last) stroke(e); });
draw.addEventListener('pointerup', () => { last = null; void run(() => classifyImage(draw, false)); });
function stroke(e: PointerEvent): void {
  const p = at(e);
  pen.strokeStyle = '#fff'; pen.lineWidth = 18; pen.lineCap = pen.lineJoin = 'round';
  pen.beginPath(); pen.moveTo(...last!); pen.lineTo(...p); pen.stroke();
  last = p;
}
$('clear').addEventListener('click', clearDrawing);

// ---- training

function drawLoss(): void {
  const c = $<HTMLCanvasElement>('lossCurve');
  const g = c.getContext('2d')!;
  const [w, h, pad] = [c.width, c.height, 34];
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#666';
  g.strokeStyle = '#ccc';
  g.strokeRect(pad, 8, w - pad - 8, h - pad - 8);
  if (!losses.length) { g.fillText('loss per step appears here', pad + 10, h / 2); return; }
  const max = Math.max(...losses) * 1.05, min = Math.min(0, ...losses);
  const x = (i: number) => pad + (w - pad - 8) * (losses.length === 1 ? 0.5 : i / (losses.length - 1));
  const y = (v: number) => 8 + (h - pad - 8) * (1 - (v - min) / (max - min));
  g.fillText(max.toFixed(2), 2, 16);
  g.fillText(min.toFixed(2), 2, h - pad);
  g.fillText(`step ${losses.length}`, w - 60, h - 12);
  g.strokeStyle = '#d9480f';
  g.lineWidth = 2;
  g.beginPath();
  losses.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
  g.stroke();
}

async function train(): Promise<void> {
  if (!model || !opt || !batch) return;
  if (dataset !== FASHION_MNIST || model.config.classes !== 10) {
    throw new Error('training here uses the bundled Fashion-MNIST batch: it needs a 10-class Fashion-MNIST model (New 0.5x model makes one)');
  }
  const steps = Number(($<HTMLInputElement>('steps')).value), batchSize = Number(($<HTMLSelectElement>('batch')).value);
  const lr = Number(($<HTMLInputElement>('lr')).value);
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= 500)) throw new Error(`steps must be a whole number from 1 to 500, got '${$<HTMLInputElement>('steps').value}'`);
  if (!(lr >= 0 && lr <= 1)) throw new Error(`lr must be a number from 0 to 1, got '${$<HTMLInputElement>('lr').value}'`);
  const log = $('trainLog');
  await trainSteps(model, opt, batch, {
    steps, batchSize, lr,
    onStep: (s, loss, ms) => {
      losses.push(loss);
      log.dataset.losses = JSON.stringify(losses);
      log.textContent = `step ${s + 1}/${steps}: loss ${loss.toFixed(4)}, ${ms.toFixed(0)} ms (batch ${batchSize}, lr ${lr})`;
      drawLoss();
    },
  });
}

// ---- files

async function openFile(f: File): Promise<void> {
  if (/\.(safetensors|ckpt)$/i.test(f.name)) return loadBytes(new Uint8Array(await f.arrayBuffer()), f.name);
  if (f.type.startsWith('image/')) {
    const img = await createImageBitmap(f).catch(() => { throw new Error(`${f.name}: the browser cannot decode this image`); });
    return classifyImage(img, true);
  }
  throw new Error(`${f.name}: not a checkpoint (.safetensors, or MindSpore .ckpt) or an image (PNG, JPEG, ...)`);
}

function download(): void {
  if (!model) return;
  void run(async () => {
    // the training record names the dataset, so this page knows the classes when the file comes back
    const bytes = await encodeCheckpoint(model!, { training: { config: { dataset: dataset.name }, source: 'demo page', steps: losses.length } });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
    a.download = 'shufflenet-demo.safetensors';
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  });
}

function wire(): void {
  $('newModel').addEventListener('click', () => void run(async () => newModel()));
  $('saveModel').addEventListener('click', download);
  $('train').addEventListener('click', () => void run(train));
  for (const id of ['ckptFile', 'imageFile']) {
    const input = $<HTMLInputElement>(id);
    input.addEventListener('change', () => { const f = input.files?.[0]; input.value = ''; if (f) void run(() => openFile(f)); });
  }
  document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    const f = e.dataTransfer?.files[0];
    if (f) void run(() => openFile(f));
  });
}

function showSamples(b: Batch): void {
  const row = $('samples');
  for (let n = 0; n < 10; n++) {
    const c = document.createElement('canvas');
    c.width = c.height = SIDE;
    c.title = `sample ${n}: ${FASHION_MNIST.classes[b.labels[n]!]}`;
    c.dataset.sample = String(n);
    const px = b.images.subarray(n * SIDE * SIDE, (n + 1) * SIDE * SIDE);
    const img = new ImageData(SIDE, SIDE);
    px.forEach((v, i) => img.data.set([v, v, v, 255], 4 * i));
    c.getContext('2d')!.putImageData(img, 0, 0);
    c.addEventListener('click', () => void run(() => {
      if (dataset !== FASHION_MNIST) throw new Error('the samples are Fashion-MNIST images; this model is not a Fashion-MNIST model');
      const three = new Uint8Array(3 * px.length);
      for (let k = 0; k < 3; k++) three.set(px, k * px.length);
      return classifyPixels(three, SIDE, SIDE, ` (sample ${n}, a ${FASHION_MNIST.classes[b.labels[n]!]})`);
    }));
    row.append(c);
  }
}

async function start(): Promise<void> {
  wire();
  try {
    const info = await initDevice();
    $('adapter').textContent = `adapter: ${describeDevice(info)}`;
    const lacks = deviceShortfalls(info);
    if (lacks.length) throw new Error(`This WebGPU adapter lacks what the model's kernels need: ${lacks.join('; ')}. Try another browser or device.`);
  } catch (e) {
    $('adapter').textContent = 'no usable WebGPU adapter';
    document.body.dataset.state = 'error';
    for (const b of document.querySelectorAll<HTMLButtonElement>('button')) b.disabled = true;
    showError(e);
    return;
  }
  await run(async () => {
    const res = await fetch('./fashion_mnist_64.bin');
    if (!res.ok) throw new Error(`fashion_mnist_64.bin: HTTP ${res.status}; rebuild the page with npm run build:web`);
    batch = parseBatch(new Uint8Array(await res.arrayBuffer()), 'fashion_mnist_64.bin');
    showSamples(batch);
    const url = new URLSearchParams(location.search).get('checkpoint');
    if (url) {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`checkpoint ${url}: HTTP ${r.status} ${r.statusText}`);
      loadBytes(new Uint8Array(await r.arrayBuffer()), url);
    } else {
      newModel();
    }
  });
  if (!model) { // a failed ?checkpoint= (its error stays shown) still leaves a model to work with
    newModel();
    document.body.dataset.state = 'ready';
  }
}

void start();
