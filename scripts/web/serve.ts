// A small static file server for the demo page (node:http, no dependency): GET/HEAD of the files in
// one folder plus a few named extra files, on localhost only (WebGPU needs a secure context, which
// http://localhost is). Paths that leave the folder are refused.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json',
  '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.json': 'application/json',
};

export interface Served { url: string; close(): Promise<void> }

/** Serve `dir` (and `extra`: URL path -> file) on 127.0.0.1:`port` (0: any free port). */
export function serveDir(dir: string, opts: { port?: number; extra?: Record<string, string> } = {}): Promise<Served> {
  const root = normalize(dir + sep);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = opts.extra?.[path] ?? normalize(join(root, path === '/' ? 'index.html' : path));
    const send = (code: number, body: string | Uint8Array, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET and HEAD\n');
    if (!opts.extra?.[path] && !file.startsWith(root)) return send(403, 'outside the served folder\n');
    try {
      send(200, await readFile(file), TYPES[extname(file)] ?? 'application/octet-stream');
    } catch {
      send(404, `${path}: not found\n`);
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(e.code === 'EADDRINUSE'
      ? new Error(`port ${opts.port} is in use: pick another with --port N`) : e));
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      ok({
        url: `http://localhost:${port}/`,
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}
