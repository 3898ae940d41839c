// HTTP(S) download of one file with redirects, progress and an MD5 computed on the fly. Failures are
// sorted by what the user can do about them: the server could not be reached, it answered with an
// error status, or the transfer broke off part way. A failed download leaves no file behind.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as crypto from 'node:crypto';
import { once } from 'node:events';

export type DownloadFailure = 'unreachable' | 'http' | 'interrupted';

export class DownloadError extends Error {
  constructor(readonly kind: DownloadFailure, message: string, readonly received = 0, readonly total = 0) {
    super(message);
  }
}

export interface DownloadOptions {
  onProgress?: (received: number, total: number) => void;
  /** Size to report as the total when the server sends no Content-Length. */
  expectedBytes?: number;
  /** Give up on a connection that sends nothing for this long. */
  idleTimeoutMs?: number;
}

const MAX_REDIRECTS = 5;

/** Resolves with the response headers arrived; rejects (unreachable) if no response comes. */
function get(url: URL, idleTimeoutMs: number): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
  if (!client) return Promise.reject(new DownloadError('unreachable', `unsupported protocol ${url.protocol} (use http or https)`));
  return new Promise((resolve, reject) => {
    const req = client.get(url, resolve);
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no data for ${idleTimeoutMs / 1000} s`)));
    req.on('error', (e) => reject(new DownloadError('unreachable', e.message)));
  });
}

/** Download `url` to `dest`; returns the byte count and the MD5 (hex) of what was written. */
export async function downloadFile(url: string, dest: string, o: DownloadOptions = {}): Promise<{ bytes: number; md5: string }> {
  const idle = o.idleTimeoutMs ?? 60_000;
  let current = new URL(url);
  let res = await get(current, idle);
  for (let hops = 0; res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && res.headers.location; hops++) {
    res.resume();
    if (hops === MAX_REDIRECTS) throw new DownloadError('http', `more than ${MAX_REDIRECTS} redirects`);
    current = new URL(res.headers.location, current);
    res = await get(current, idle);
  }
  if (res.statusCode !== 200) {
    res.resume();
    throw new DownloadError('http', `HTTP ${res.statusCode}${res.statusMessage ? ' ' + res.statusMessage : ''} from ${current.href}`);
  }

  const total = Number(res.headers['content-length']) || o.expectedBytes || 0;
  const hash = crypto.createHash('md5');
  const out = fs.createWriteStream(dest);
  // a disk error surfaces from the write or drain it belongs to; without a listener it would crash the process
  out.on('error', () => {});
  let received = 0;
  try {
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        hash.update(chunk);
        received += chunk.length;
        if (!out.write(chunk) && !out.errored) await once(out, 'drain');
        if (out.errored) throw out.errored;
        o.onProgress?.(received, total);
      }
      if (!res.complete || (total && received < total)) throw new Error('the connection closed early');
    } catch (e) {
      if (e instanceof DownloadError) throw e;
      const err = e as NodeJS.ErrnoException;
      if (err.syscall === 'write' || err.syscall === 'open') throw err; // a local disk problem, not the transfer
      throw new DownloadError('interrupted', err.message, received, total);
    }
    if (out.errored) throw out.errored;
    out.end();
    await once(out, 'finish');
  } catch (e) {
    // wait for the stream to let go of the file (it may still be opening it) before removing it; the
    // destroy fails its pending writes with an 'error' that must not replace the reason we are here
    const closed = out.closed ? Promise.resolve() : new Promise<void>(r => out.once('close', () => r()));
    out.destroy();
    await closed;
    fs.rmSync(dest, { force: true });
    throw e;
  }
  return { bytes: received, md5: hash.digest('hex') };
}
