// The demo's static server (scripts/web/serve.ts). Catches: a path that climbs out of the served
// folder (encoded dot segments) being answered, wrong content types (a module script served as
// anything but JavaScript is refused by browsers), extra files not mapped, methods other than GET/HEAD.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { serveDir } from '../../scripts/web/serve.ts';

test('serves the folder and the extra files, nothing outside, GET and HEAD only', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'serve-'));
  mkdirSync(join(tmp, 'site'));
  writeFileSync(join(tmp, 'site', 'index.html'), '<p>hi</p>');
  writeFileSync(join(tmp, 'site', 'app.js'), 'export {};');
  writeFileSync(join(tmp, 'secret.txt'), 'secret');
  writeFileSync(join(tmp, 'model.safetensors'), 'bytes');
  const s = await serveDir(join(tmp, 'site'), { extra: { '/checkpoint.safetensors': join(tmp, 'model.safetensors') } });
  try {
    // node:http sends the path as given (fetch would resolve dot segments before sending)
    const get = (path: string, method = 'GET') => new Promise<{ status: number; type: string | undefined; body: string }>((ok, fail) => {
      const u = new URL(s.url);
      request({ host: '127.0.0.1', port: u.port, path, method }, (res) => { // where it listens; 'localhost' may not resolve (a chroot)
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => ok({ status: res.statusCode!, type: res.headers['content-type'], body }));
      }).on('error', fail).end();
    });
    assert.equal(await get('/'), { status: 200, type: 'text/html; charset=utf-8', body: '<p>hi</p>' });
    assert.is((await get('/app.js')).type, 'text/javascript; charset=utf-8');
    assert.equal(await get('/checkpoint.safetensors'), { status: 200, type: 'application/octet-stream', body: 'bytes' });
    // dot segments resolve inside the folder (404); an encoded slash would climb out, and is refused
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt']) {
      const r = await get(path);
      assert.ok(r.status === 404 || r.status === 403, `${path}: ${r.status} ${r.body}`);
    }
    assert.is((await get('/..%2fsecret.txt')).status, 403);
    assert.is((await get('/missing.js')).status, 404);
    assert.is((await get('/', 'POST')).status, 405);
    assert.equal(await get('/', 'HEAD'), { status: 200, type: 'text/html; charset=utf-8', body: '' });
  } finally {
    await s.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a port in use is named, with what to do', async () => {
  const a = await serveDir(tmpdir());
  const port = Number(new URL(a.url).port);
  try {
    await serveDir(tmpdir(), { port }).then((b) => b.close(), (e: Error) => assert.match(e.message, new RegExp(`port ${port} is in use: pick another with --port N`)));
  } finally {
    await a.close();
  }
});

test.run();
