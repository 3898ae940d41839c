// `npm run train` whose loss becomes NaN (fixed loss scale), spawned on a tiny Fashion-MNIST-shaped
// set: it stops with the message naming the last good checkpoint and exits 1 (train/README.md's
// table), saving nothing and leaving no lock behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listCheckpoints } from '../../train/checkpoint_files.ts';
import { LOCK_NAME } from '../../train/run_lock.ts';
import { startCli } from './spawn_cli.ts';
import { writeTinyFashionMnist } from './tiny_fashion_mnist.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nan-stop-cli-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));

test('a NaN loss stops the run with exit status 1 and saves nothing (catches a diverged run reported as a success)', async () => {
  const data = writeTinyFashionMnist(path.join(root, 'fm'), 32);
  const out = path.join(root, 'run');
  // lr 1e300 is Inf in f32: step 1's loss is finite, its update makes the weights Inf/NaN, step 2's loss is NaN
  const cli = startCli('train/cli_train.ts', ['--dataset', 'fashion-mnist', '--data-dir', data, '--preset', 'fast', '--batch-size', '8',
    '--precision', 'fp32', '--lr', '1e300', '--min-lr', '0', '--warmup-epochs', '0', '--epochs', '3', '--log-every', '1', '--eval-every', '0',
    '--checkpoint-every', '0', '--out-dir', out]);
  const r = await cli.exited;
  const text = cli.output();
  assert.is(r.code, 1, text);
  assert.match(text, /^error: the loss became non-finite \(.*\) by step 2 \(epoch 1\); stopping without saving\. The last good checkpoint is \(none yet\)\. Try a lower --lr/m);
  assert.not.match(text, /Train Success/);
  assert.equal(listCheckpoints(out), [], 'no checkpoint');
  assert.not.ok(fs.existsSync(path.join(out, LOCK_NAME)), 'lock removed');
});

test.run();
