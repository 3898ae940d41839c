// downloadFile over loopback HTTP: a transfer cut off part way is always reported as interrupted (never
// as a stream's own clean-up error), and a disk that refuses the bytes fails the call with the disk's
// error instead of hanging on a drain that never comes or crashing the process; no file is left.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { downloadFile, DownloadError } from '../../train/data/download.ts';

const BODY = Buffer.alloc(1 << 20, 7);

async function withServer(handler: http.RequestListener, fn: (url: string) => Promise<void>) {
  const server = http.createServer(handler);
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try { await fn(`http://127.0.0.1:${port}/f`); } finally {
    server.closeAllConnections();
    await new Promise(r => server.close(r));
  }
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'download-'));

test('a transfer cut off after its first bytes is an interrupted DownloadError every time', async () => {
  // the cut lands while the file is still being opened in some runs: the clean-up must not change the error
  await withServer((_req, res) => {
    res.writeHead(200, { 'content-length': BODY.length });
    res.write(BODY.subarray(0, 500), () => setTimeout(() => res.socket?.destroy(), 1));
  }, async url => {
    for (let run = 0; run < 40; run++) {
      const dir = tmp(), dest = path.join(dir, 'f.part');
      const e = await downloadFile(url, dest).then(() => null, (x: Error) => x);
      assert.ok(e instanceof DownloadError, `run ${run}: ${e?.message ?? 'resolved'}`);
      assert.is((e as DownloadError).kind, 'interrupted', `run ${run}: ${e!.message}`);
      assert.is((e as DownloadError).total, BODY.length);
      assert.ok((e as DownloadError).received <= 500);
      assert.equal(fs.readdirSync(dir), [], `run ${run}: partial file left`);
    }
  });
});

test('a disk that refuses the bytes fails the download with its error, no hang, nothing left', async () => {
  await withServer((_req, res) => { res.writeHead(200, { 'content-length': BODY.length }); res.end(BODY); }, async url => {
    const dir = tmp(), dest = path.join(dir, 'f.part');
    fs.symlinkSync('/dev/full', dest); // every write fails with ENOSPC
    const e = await downloadFile(url, dest).then(() => null, (x: NodeJS.ErrnoException) => x);
    assert.ok(e, 'the download resolved although nothing could be written');
    assert.not.ok(e instanceof DownloadError, `a disk error was blamed on the transfer: ${e!.message}`);
    assert.is(e!.code, 'ENOSPC', e!.message);
    assert.equal(fs.readdirSync(dir), []);
  });
});

test('a destination that cannot be opened fails with the open error naming it', async () => {
  await withServer((_req, res) => { res.writeHead(200, { 'content-length': BODY.length }); res.end(BODY); }, async url => {
    const dest = path.join(tmp(), 'no-such-dir', 'f.part');
    const e = await downloadFile(url, dest).then(() => null, (x: NodeJS.ErrnoException) => x);
    assert.ok(e && !(e instanceof DownloadError), e?.message ?? 'resolved');
    assert.is(e!.code, 'ENOENT');
    assert.ok(e!.message.includes(dest), e!.message);
  });
});

test.run();
