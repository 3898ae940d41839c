// Fashion-MNIST: IDX parsing on small files made here (gzipped and plain), corrupt inputs, and the
// real dataset from Debian's dataset-fashion-mnist (required: the test fails if it is not installed).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { loadFashionMnist, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD } from '../../train/data/fashion_mnist.ts';
import { computeChannelStats } from '../../train/data/dataset.ts';

function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, data]);
}

const N = 3;
const pixels = Uint8Array.from({ length: N * 784 }, (_, i) => (i * 13 + 5) & 255);
const labels = Uint8Array.from([9, 0, 4]);

const tmpDirs: string[] = [];
/** A directory with a small train split (gz or plain) and an optional mutation of the files. */
function makeDir(opts: { gz?: boolean; imgMagic?: number; lblCount?: number; truncate?: boolean; badLabel?: boolean } = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fmnist-test-'));
  tmpDirs.push(dir);
  let img = idx(opts.imgMagic ?? 2051, [N, 28, 28], pixels);
  if (opts.truncate) img = img.subarray(0, img.length - 10);
  const lblData = opts.badLabel ? Uint8Array.from([1, 12, 2]) : labels;
  const lbl = idx(2049, [opts.lblCount ?? N], opts.lblCount !== undefined ? new Uint8Array(opts.lblCount) : lblData);
  const gz = opts.gz ?? true;
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte' + (gz ? '.gz' : '')), gz ? zlib.gzipSync(img) : img);
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte' + (gz ? '.gz' : '')), gz ? zlib.gzipSync(lbl) : lbl);
  return dir;
}

test('parses small gzipped and plain IDX files', () => {
  for (const gz of [true, false]) {
    const ds = loadFashionMnist(makeDir({ gz }), 'train');
    assert.is(ds.count, N);
    assert.equal([ds.channels, ds.height, ds.width], [1, 28, 28]);
    assert.equal([...ds.labels], [...labels]);
    assert.ok(Buffer.from(ds.images).equals(Buffer.from(pixels)));
    assert.equal(ds.classes, FASHION_MNIST_CLASSES);
    assert.equal(ds.mean, FASHION_MNIST_MEAN);
  }
});

test('corrupt files -> errors naming the file', () => {
  const bad = makeDir({ imgMagic: 2049 });
  assert.throws(() => loadFashionMnist(bad, 'train'),
    (e: Error) => e.message.includes(path.join(bad, 'train-images-idx3-ubyte.gz')) && /magic number 2049.*expected 2051/.test(e.message));
  assert.throws(() => loadFashionMnist(makeDir({ truncate: true }), 'train'), /train-images-idx3-ubyte\.gz is truncated or corrupt/);
  assert.throws(() => loadFashionMnist(makeDir({ lblCount: 2 }), 'train'), /has 3 images but .* has 2 labels/);
  assert.throws(() => loadFashionMnist(makeDir({ badLabel: true }), 'train'), /label 1 is 12/);
  const notGz = makeDir();
  fs.writeFileSync(path.join(notGz, 'train-labels-idx1-ubyte.gz'), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
  assert.throws(() => loadFashionMnist(notGz, 'train'), /train-labels-idx1-ubyte\.gz is corrupt: cannot gunzip/);
  // test split files absent
  assert.throws(() => loadFashionMnist(notGz, 'test'), /t10k-images-idx3-ubyte.*not found.*apt-get install dataset-fashion-mnist/);
});

test('missing directory -> says to install the package or pass --data-dir', () => {
  assert.throws(() => loadFashionMnist('/nonexistent/fashion', 'train'),
    (e: Error) => e.message.includes('/nonexistent/fashion') && e.message.includes('apt-get install dataset-fashion-mnist') && e.message.includes('--data-dir'));
});

test('real dataset from dataset-fashion-mnist: counts, labels, mean/std constants', () => {
  // deliberately not skipped: CI installs the package, and a missing dataset should be noticed
  assert.ok(fs.existsSync(FASHION_MNIST_DIR),
    `${FASHION_MNIST_DIR} not found: install it with \`apt-get install dataset-fashion-mnist\``);
  const train = loadFashionMnist(FASHION_MNIST_DIR, 'train');
  const t10k = loadFashionMnist(FASHION_MNIST_DIR, 'test');
  assert.is(train.count, 60000);
  assert.is(t10k.count, 10000);
  for (const ds of [train, t10k]) {
    const hist = new Array(10).fill(0);
    for (const l of ds.labels) hist[l]++;
    // the dataset is balanced: 6000 / 1000 per class
    assert.equal(hist, new Array(10).fill(ds.count / 10));
  }
  const st = computeChannelStats(train);
  assert.ok(Math.abs(st.mean[0] - FASHION_MNIST_MEAN[0]) < 1e-4, `mean ${st.mean[0]}`);
  assert.ok(Math.abs(st.std[0] - FASHION_MNIST_STD[0]) < 1e-4, `std ${st.std[0]}`);
});

test.after(() => { for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true }); });

test.run();
