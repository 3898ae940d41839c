// `npm run train` under stop signals, spawned on a tiny Fashion-MNIST-shaped set: SIGTERM finishes the
// step, saves and exits 143 (128 + 15), and while that run holds its --out-dir a second training there
// is refused naming it; a second signal exits at once without saving, with its own code; a
// signal during start-up (here: a CIFAR-10 download that never answers) exits at once too. Each run
// leaves no lock file behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { readCheckpoint } from '../../train/checkpoint_io.ts';
import { listCheckpoints } from '../../train/checkpoint_files.ts';
import { LOCK_NAME } from '../../train/run_lock.ts';
import { startCli } from './spawn_cli.ts';
import { writeTinyFashionMnist } from './tiny_fashion_mnist.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'signals-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
const data = writeTinyFashionMnist(path.join(root, 'fm'), 64);
// 8 steps per epoch, many epochs: the run goes on until signalled
const args = (out: string) => ['--dataset', 'fashion-mnist', '--data-dir', data, '--preset', 'fast', '--batch-size', '8', '--precision', 'fp32',
  '--lr', '0.005', '--eval-every', '0', '--log-every', '1', '--epochs', '200', '--out-dir', out];
const DESCRIBED = /^model ShuffleNetV1/m; // logged once signals save instead of exiting

test('SIGTERM saves and exits 143; meanwhile a second training in its --out-dir is refused', async () => {
  const out = path.join(root, 'term');
  const a = startCli('train/cli_train.ts', args(out));
  await a.waitFor(DESCRIBED);
  const b = startCli('train/cli_train.ts', args(out));
  const rb = await b.exited;
  assert.is(rb.code, 1, b.output());
  assert.match(b.output(), new RegExp(`--out-dir ${out} is in use by another training run \\(pid ${a.child.pid} on this host, started .*lock file ${path.join(out, LOCK_NAME)}\\)`));
  a.child.kill('SIGTERM');
  const ra = await a.exited;
  const text = a.output();
  assert.is(ra.code, 143, text);
  assert.match(text, /SIGTERM: finishing the current step, then saving a checkpoint/);
  const m = /stopped at step (\d+); saved (\S+)\. Continue with --resume/.exec(text);
  assert.ok(m, text);
  const ck = await readCheckpoint(m![2]!);
  assert.is((ck.training as { step: number }).step, Number(m![1]));
  assert.not.ok(fs.existsSync(path.join(out, LOCK_NAME)), 'lock removed');
});

test('a second signal exits at once without saving, with its own code (SIGINT 130, SIGHUP 129)', async () => {
  const out = path.join(root, 'twice');
  const c = startCli('train/cli_train.ts', args(out));
  await c.waitFor(DESCRIBED);
  // sent back to back; Node may handle two pending signals in either order
  c.child.kill('SIGINT');
  c.child.kill('SIGHUP');
  const r = await c.exited;
  const text = c.output();
  const second = /(Ctrl-C \(SIGINT\)|SIGHUP) again: exiting without saving/.exec(text);
  assert.ok(second, text);
  assert.is(r.code, second![1] === 'SIGHUP' ? 129 : 130, `exit code ${r.code}, signal ${r.signal}:\n${text}`);
  assert.match(text, second![1] === 'SIGHUP' ? /Ctrl-C \(SIGINT\): finishing the current step/ : /SIGHUP: finishing the current step/);
  assert.not.match(text, /stopped at step/);
  assert.equal(listCheckpoints(out).filter((f) => f.step % 8 !== 0), [], 'no checkpoint but (possibly) epoch ends');
  assert.not.ok(fs.existsSync(path.join(out, LOCK_NAME)), 'lock removed');
});

test('a signal during start-up exits at once (SIGTERM: 143) and removes the lock', async () => {
  // a download server that never answers holds the run in start-up
  const sockets: import('node:net').Socket[] = [];
  const server = http.createServer(() => {}).on('connection', (s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cifar-10-binary.tar.gz`;
  const out = path.join(root, 'startup');
  try {
    const d = startCli('train/cli_train.ts', ['--preset', 'fast', '--data-dir', path.join(root, 'nothing'), '--download-url', url, '--out-dir', out]);
    await d.waitFor(/Starting Training/);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(fs.existsSync(path.join(out, LOCK_NAME)), 'the run holds its lock while starting');
    d.child.kill('SIGTERM');
    const r = await d.exited;
    assert.is(r.code, 143, d.output());
    assert.match(d.output(), /SIGTERM during start-up: nothing to save yet; exiting/);
    assert.not.ok(fs.existsSync(path.join(out, LOCK_NAME)), 'lock removed');
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test.run();
