// CIFAR-10 loading and fetching on small archives built here in the exact binary format:
// NCHW byte order, size validation, local-archive unpack, loopback HTTP download (ok, bad MD5,
// interrupted, 404, unreachable) and refusal of archive entries escaping the target directory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import * as crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tar from 'tar-stream';
import {
  loadCifar10, ensureCifar10, unpackCifar10, safeEntryPath,
  CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILES, CIFAR10_CLASSES, CIFAR10_ARCHIVE_NAME, CIFAR10_DIR_NAME,
} from '../../train/data/cifar10.ts';

const RECORDS_PER_TRAIN_FILE = 3, TEST_RECORDS = 4;

/** Pixel value of global record n, channel c, row y, col x: distinct enough to catch any reordering. */
const pixel = (n: number, c: number, y: number, x: number) => (n * 31 + c * 97 + y * 7 + x * 3) & 255;
const labelOf = (n: number) => (n * 3 + 1) % 10;

/** Build one .bin file with records [first, first+count), each 1 label byte + R plane + G plane + B plane. */
function binFile(first: number, count: number): Buffer {
  const buf = Buffer.alloc(count * 3073);
  for (let r = 0; r < count; r++) {
    const n = first + r, off = r * 3073;
    buf[off] = labelOf(n);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      buf[off + 1 + c * 1024 + y * 32 + x] = pixel(n, c, y, x);
    }
  }
  return buf;
}

/** name -> contents of a small but complete cifar-10-batches-bin. */
function batchFiles(): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  CIFAR10_TRAIN_FILES.forEach((f, i) => m.set(f, binFile(i * RECORDS_PER_TRAIN_FILE, RECORDS_PER_TRAIN_FILE)));
  m.set(CIFAR10_TEST_FILES[0], binFile(1000, TEST_RECORDS));
  m.set('batches.meta.txt', Buffer.from(CIFAR10_CLASSES.join('\n') + '\n\n'));
  return m;
}

async function tarGz(entries: { name: string; data?: Buffer; type?: tar.Header['type']; linkname?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type && e.type !== 'file') pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else pack.entry({ name: e.name, size: e.data!.length }, e.data!);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack.pipe(zlib.createGzip())) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function cifarArchive(): Promise<Buffer> {
  const entries: { name: string; data?: Buffer; type?: tar.Header['type'] }[] = [{ name: CIFAR10_DIR_NAME + '/', type: 'directory' }];
  for (const [f, d] of batchFiles()) entries.push({ name: `${CIFAR10_DIR_NAME}/${f}`, data: d });
  return tarGz(entries);
}

const md5 = (b: Buffer) => crypto.createHash('md5').update(b).digest('hex');
const tmpDirs: string[] = [];
function tmp(): string { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cifar-test-')); tmpDirs.push(d); return d; }

/** Check a loaded split against the generator, byte for byte in NCHW order. */
function checkSplit(dir: string, split: 'train' | 'test') {
  const ds = loadCifar10(dir, split);
  const count = split === 'train' ? 5 * RECORDS_PER_TRAIN_FILE : TEST_RECORDS, first = split === 'train' ? 0 : 1000;
  assert.is(ds.count, count);
  assert.is(ds.images.length, count * 3 * 32 * 32);
  assert.equal([ds.channels, ds.height, ds.width], [3, 32, 32]);
  assert.equal(ds.classes, CIFAR10_CLASSES);
  assert.equal(ds.mean, [0.4914, 0.4822, 0.4465]);
  assert.equal(ds.std, [0.2023, 0.1994, 0.2010]);
  const expected = new Uint8Array(count * 3072);
  for (let n = 0; n < count; n++) {
    assert.is(ds.labels[n], labelOf(first + n), `label ${n}`);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      expected[((n * 3 + c) * 32 + y) * 32 + x] = pixel(first + n, c, y, x);
    }
  }
  assert.ok(Buffer.from(ds.images).equals(Buffer.from(expected)), `${split} images differ from NCHW expectation`);
}

function writeBatchDir(dir: string) {
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, d] of batchFiles()) fs.writeFileSync(path.join(dir, f), d);
}

async function withServer(handler: http.RequestListener, fn: (url: string) => Promise<void>) {
  const server = http.createServer(handler);
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try { await fn(`http://127.0.0.1:${port}`); } finally {
    server.closeAllConnections();
    await new Promise(r => server.close(r));
  }
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<Error> {
  try { await p; } catch (e) {
    assert.match((e as Error).message, re);
    return e as Error;
  }
  assert.unreachable(`expected rejection matching ${re}`);
  throw new Error('unreachable');
}

test('loads exact bytes in NCHW order (dir with or without cifar-10-batches-bin)', () => {
  const root = tmp();
  writeBatchDir(path.join(root, CIFAR10_DIR_NAME));
  checkSplit(root, 'train');
  checkSplit(root, 'test');
  checkSplit(path.join(root, CIFAR10_DIR_NAME), 'test');
});

test('truncated .bin -> error naming the file', () => {
  const root = tmp(), bin = path.join(root, CIFAR10_DIR_NAME);
  writeBatchDir(bin);
  const f = path.join(bin, 'data_batch_3.bin');
  fs.truncateSync(f, 3073 * 2 + 100);
  assert.throws(() => loadCifar10(root, 'train'), (e: Error) => e.message.includes(f) && /truncated or corrupt/.test(e.message) && e.message.includes(String(3073 * 2 + 100)));
  fs.writeFileSync(path.join(bin, 'test_batch.bin'), Buffer.alloc(0));
  assert.throws(() => loadCifar10(root, 'test'), /test_batch\.bin is truncated or corrupt/);
});

test('label >= 10 -> error; strict mode wants 10000 records', () => {
  const root = tmp(), bin = path.join(root, CIFAR10_DIR_NAME);
  writeBatchDir(bin);
  assert.throws(() => loadCifar10(root, 'test', { strict: true }), /has 4 records, expected 10000/);
  const f = path.join(bin, 'test_batch.bin'), d = fs.readFileSync(f);
  d[3073] = 10;
  fs.writeFileSync(f, d);
  assert.throws(() => loadCifar10(root, 'test'), /record 1 has label 10/);
});

test('ensureCifar10: existing data is used as is; local archive is verified and unpacked', async () => {
  const root = tmp();
  writeBatchDir(path.join(root, CIFAR10_DIR_NAME));
  assert.is(await ensureCifar10(root, { offline: true }), path.join(root, CIFAR10_DIR_NAME));

  const archive = await cifarArchive();
  const dir2 = tmp();
  fs.writeFileSync(path.join(dir2, CIFAR10_ARCHIVE_NAME), archive);
  await rejects(ensureCifar10(dir2, { offline: true }), /MD5 .* expected c32a1d4ab5d03f1284b67883e8d87530/);
  assert.is(await ensureCifar10(dir2, { offline: true, md5: md5(archive) }), path.join(dir2, CIFAR10_DIR_NAME));
  checkSplit(dir2, 'train');
  // staging directory removed
  assert.equal(fs.readdirSync(dir2).sort(), [CIFAR10_ARCHIVE_NAME, CIFAR10_DIR_NAME].sort());
});

test('download over loopback HTTP: redirect, progress, md5, unpack', async () => {
  const archive = await cifarArchive();
  const progress: [number, number][] = [];
  let firstProgress!: () => void;
  const reported = new Promise<void>((r) => { firstProgress = r; });
  await withServer((req, res) => {
    if (req.url === '/old') { res.writeHead(302, { location: '/cifar.tgz' }); res.end(); return; }
    res.writeHead(200, { 'content-length': archive.length });
    // the rest only once the client has reported the first part: progress comes at least twice, whatever the timing
    res.write(archive.subarray(0, 1000));
    void reported.then(() => res.end(archive.subarray(1000)));
  }, async base => {
    const dir = tmp();
    const out = await ensureCifar10(dir, { url: `${base}/old`, md5: md5(archive), onProgress: (r, t) => { progress.push([r, t]); firstProgress(); } });
    assert.is(out, path.join(dir, CIFAR10_DIR_NAME));
    assert.ok(progress.length >= 2, `${progress.length} progress calls`);
    assert.ok(progress[0][0] > 0 && progress[0][0] <= 1000, `first report ${progress[0][0]} bytes: before the rest was sent`);
    assert.ok(progress.every(([r, t], i) => t === archive.length && (i === 0 || r > progress[i - 1][0])), 'received grows, total is the length');
    assert.equal(progress[progress.length - 1], [archive.length, archive.length]);
    assert.ok(fs.readFileSync(path.join(dir, CIFAR10_ARCHIVE_NAME)).equals(archive));
    assert.not.ok(fs.existsSync(path.join(dir, CIFAR10_ARCHIVE_NAME + '.part')));
    checkSplit(dir, 'train');
    checkSplit(dir, 'test');
  });
});

test('download with wrong checksum -> error with both md5s, no archive left', async () => {
  const archive = await cifarArchive();
  await withServer((_req, res) => { res.writeHead(200, { 'content-length': archive.length }); res.end(archive); }, async base => {
    const dir = tmp();
    const e = await rejects(ensureCifar10(dir, { url: base + '/x' }), /MD5/);
    assert.ok(e.message.includes(md5(archive)) && e.message.includes('c32a1d4ab5d03f1284b67883e8d87530'));
    assert.equal(fs.readdirSync(dir), []);
  });
});

test('interrupted transfer -> error says interrupted after X of Y bytes, nothing left', async () => {
  const archive = await cifarArchive();
  await withServer((_req, res) => {
    res.writeHead(200, { 'content-length': archive.length });
    res.write(archive.subarray(0, 500), () => setTimeout(() => res.socket?.destroy(), 10));
  }, async base => {
    const dir = tmp();
    const e = await rejects(ensureCifar10(dir, { url: base + '/x', md5: md5(archive) }), /interrupted after \d+ of \d+ bytes/);
    assert.ok(e.message.includes(`of ${archive.length} bytes`));
    assert.match(e.message, /retry/);
    assert.equal(fs.readdirSync(dir), []);
  });
});

test('HTTP 404 -> clear error with where to put the files', async () => {
  await withServer((_req, res) => { res.writeHead(404); res.end('nope'); }, async base => {
    const dir = tmp();
    const e = await rejects(ensureCifar10(dir, { url: base + '/missing.tgz' }), /HTTP 404/);
    assert.ok(e.message.includes(path.join(dir, CIFAR10_ARCHIVE_NAME)));
    assert.equal(fs.readdirSync(dir), []);
  });
});

/** A loopback port that refuses connections: one this process listened on and closed again. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

test('offline / unreachable -> error naming directory, archive name and URL', async () => {
  const dir = tmp();
  const url = `http://127.0.0.1:${await closedPort()}/cifar-10-binary.tar.gz`;
  for (const opts of [{ url }, { url, offline: true }]) {
    const e = await rejects(ensureCifar10(dir, opts), opts.offline ? /CIFAR-10 not found: .* downloading is off/ : /CIFAR-10 not found: .*ECONNREFUSED/);
    assert.ok(e.message.includes(path.join(dir, CIFAR10_ARCHIVE_NAME)), e.message);
    assert.ok(e.message.includes(path.join(dir, CIFAR10_DIR_NAME)), e.message);
    assert.ok(e.message.includes(url), e.message);
  }
  assert.equal(fs.readdirSync(dir), []);
});

test('archive entries escaping the target are refused, nothing written outside', async () => {
  const base = tmp(), dataDir = path.join(base, 'data');
  fs.mkdirSync(dataDir);
  const files = [...batchFiles()].map(([f, d]) => ({ name: `${CIFAR10_DIR_NAME}/${f}`, data: d }));
  const evil = Buffer.from('evil');
  for (const bad of ['../evil.bin', `${CIFAR10_DIR_NAME}/../../evil.bin`, path.join(base, 'abs-evil.bin')]) {
    const archivePath = path.join(base, 'bad.tar.gz');
    fs.writeFileSync(archivePath, await tarGz([...files.slice(0, 2), { name: bad, data: evil }, ...files.slice(2)]));
    await rejects(unpackCifar10(archivePath, dataDir), /refusing archive entry/);
    assert.equal(fs.readdirSync(base).sort(), ['bad.tar.gz', 'data'], `after ${bad}`);
    assert.equal(fs.readdirSync(dataDir), [], `after ${bad}`);
  }
  // links and other non-file entries are skipped, the rest unpacks
  const archivePath = path.join(base, 'links.tar.gz');
  fs.writeFileSync(archivePath, await tarGz([{ name: 'link', type: 'symlink', linkname: '/etc/passwd' }, ...files]));
  await unpackCifar10(archivePath, dataDir);
  assert.equal(fs.readdirSync(dataDir), [CIFAR10_DIR_NAME]);
  checkSplit(dataDir, 'test');
});

test('safeEntryPath', () => {
  const root = tmp();
  assert.is(safeEntryPath(root, 'a/./b/../c.bin'), path.join(root, 'a', 'c.bin'));
  for (const bad of ['/etc/x', '..', '../x', 'a/../../x', 'C:/x', '..\\x']) assert.throws(() => safeEntryPath(root, bad), /refusing/);
});

test.after(() => { for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true }); });

test.run();
