// Runs that cannot clobber each other and lose little to a crash: the --out-dir lock (a live holder
// refused, a stale one taken over), another run's outputs refused without --overwrite, file-system
// errors that name the path and say what to do (a failed save names the intact previous checkpoint),
// and --checkpoint-every: periodic checkpoints inside an epoch, resumed exactly (the same losses as
// the uninterrupted run) with metrics.jsonl cut back to the checkpoint's step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../util/gpu.ts';
import { train, type TrainHooks } from '../../train/trainer.ts';
import { readCheckpoint } from '../../train/checkpoint_io.ts';
import { listCheckpoints } from '../../train/checkpoint_files.ts';
import { LOCK_NAME } from '../../train/run_lock.ts';
import { fsErrorMessage } from '../../train/fs_errors.ts';
import { saveFailure } from '../../train/resume.ts';
import { CheckpointClock, parseCheckpointEvery } from '../../train/periodic_checkpoint.ts';
import { FlagError } from '../../train/flags.ts';
import { parseTrainArgs, type TrainConfig } from '../../train/config.ts';
import { tinyConfigFor } from './tiny_config.ts';
import { syntheticDataset } from './synthetic_data.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'run-safety-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
const data = { train: syntheticDataset(24, 3), test: null }; // batch 8: 3 steps per epoch
const cfg = (dir: string, over: Partial<TrainConfig> = {}) =>
  tinyConfigFor(path.join(root, dir), { batchSize: 8, epochs: 4, warmupEpochs: 1, maxSteps: 8, logEvery: 3, evalEvery: 0, ...over });
const failure = (c: TrainConfig, hooks: TrainHooks = {}) =>
  train(c, { log: () => {}, progress: false, datasets: data, ...hooks }).then(() => '', (e: Error) => e.message);
const lockOf = (pid: number, host = os.hostname()) => JSON.stringify({ pid, host, started: '2026-01-01T00:00:00.000Z' });

test('--checkpoint-every: N steps, Nm minutes, 0 never; the clock restarts at every checkpoint', () => {
  assert.equal(parseCheckpointEvery('500'), { steps: 500 });
  assert.equal(parseCheckpointEvery('30m'), { minutes: 30 });
  assert.equal(parseCheckpointEvery('0.5m'), { minutes: 0.5 });
  assert.is(parseCheckpointEvery('0'), null);
  for (const bad of ['', 'x', '-3', '1.5', '10s', '5h']) assert.throws(() => parseCheckpointEvery(bad), (e: Error) => e instanceof FlagError && /--checkpoint-every: expected N \(steps\), Nm \(minutes/.test(e.message), bad);
  assert.is(parseTrainArgs([]).config.checkpointEvery, '30m');
  assert.throws(() => parseTrainArgs(['--checkpoint-every', '2h']), /--checkpoint-every/);
  assert.throws(() => parseTrainArgs(['--resume', '--overwrite']), /--overwrite: cannot be combined with --resume/);
  let now = 0;
  const byTime = new CheckpointClock({ minutes: 30 }, 0, () => now);
  now = 29 * 60_000;
  assert.not.ok(byTime.due(100));
  now = 30 * 60_000;
  assert.ok(byTime.due(101));
  byTime.saved(101);
  assert.not.ok(byTime.due(102));
  const bySteps = new CheckpointClock({ steps: 3 }, 10);
  assert.equal([11, 12, 13].map((s) => bySteps.due(s)), [false, false, true]);
  bySteps.saved(12);
  assert.not.ok(bySteps.due(14));
  assert.not.ok(new CheckpointClock(null, 0).due(1e9));
});

test('file-system errors name the path and what to do', async () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  assert.is(fsErrorMessage(enospc, 'save the checkpoint', '/r/a.safetensors'),
    'cannot save the checkpoint /r/a.safetensors: no space left on the device: free some space, or choose an --out-dir on another disk (ENOSPC)');
  assert.match(saveFailure(enospc, '/r/b.safetensors', '/r/a.safetensors'),
    /^cannot save the checkpoint \/r\/b\.safetensors: no space left .*\(ENOSPC\)\. The previous checkpoint \/r\/a\.safetensors is intact .*--resume \/r\/a\.safetensors\.$/);
  assert.match(saveFailure(enospc, '/r/b.safetensors', null), /No checkpoint of this run had been saved yet\.$/);
  const file = path.join(root, 'a-file');
  fs.writeFileSync(file, 'x');
  assert.is(await failure(cfg('x', { outDir: file })), `--out-dir ${file} is a file, not a directory: choose another --out-dir, or move the file away`);
  assert.match(await failure(cfg('x', { outDir: path.join(file, 'sub') })), /^cannot create --out-dir .*a-file\/sub: a part of the path is a file, not a directory: choose another --out-dir \(ENOTDIR\)$/);
  if (fs.existsSync('/sys/kernel')) {
    // a read-only parent (sysfs refuses new directories even to root)
    assert.match(await failure(cfg('x', { outDir: '/sys/kernel/shufflenet-run' })), /^cannot create --out-dir \/sys\/kernel\/shufflenet-run: .*\((EPERM|EACCES|EROFS)\)$/);
  }
});

test('the --out-dir lock: a live run (here or on another host) or a lock being written refuses; a stale one is taken over', async () => {
  const dir = path.join(root, 'locked');
  fs.mkdirSync(dir);
  const lock = path.join(dir, LOCK_NAME);
  const sleeper = spawn('sleep', ['60']);
  try {
    fs.writeFileSync(lock, lockOf(sleeper.pid!));
    assert.match(await failure(cfg('locked')), new RegExp(`^--out-dir .*locked is in use by another training run \\(pid ${sleeper.pid} on this host, started 2026-01-01T00:00:00\\.000Z; lock file .*locked/train\\.lock\\)\\. Wait for it to finish, or use another --out-dir\\. If that run is gone, delete .*train\\.lock\\.$`));
  } finally {
    sleeper.kill();
  }
  fs.writeFileSync(lock, lockOf(1, 'elsewhere'));
  assert.match(await failure(cfg('locked')), /\(pid 1 on host elsewhere, .*this host cannot check whether that run is still alive/);
  fs.writeFileSync(lock, '');
  assert.match(await failure(cfg('locked')), /in use by another training run \(a run that is starting now; lock file/);
  assert.ok(fs.existsSync(lock), 'a lock being written is left alone');
  // the same empty file a minute later was left by a run that died starting: taken over (then this run stops at the old outputs)
  fs.utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  fs.writeFileSync(path.join(dir, 'shufflenetv1-9_9.safetensors'), 'x');
  const lines: string[] = [];
  assert.match(await failure(cfg('locked'), { log: (l) => lines.push(l) }), /holds another run's outputs/);
  assert.match(lines.join('\n'), /^taking over the stale lock .*train\.lock: it is empty or unreadable/m);
  assert.not.ok(fs.existsSync(lock), 'released after the failure');
});

test('another run\'s outputs are refused without --overwrite; a dead run\'s lock is taken over; a failed save names the intact previous checkpoint', async () => {
  const dir = path.join(root, 'previous');
  fs.mkdirSync(dir);
  const dead = spawnSync('true').pid;
  fs.writeFileSync(path.join(dir, LOCK_NAME), lockOf(dead));
  fs.writeFileSync(path.join(dir, 'shufflenetv1-9_9.safetensors'), 'x');
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), '{"event":"step","step":1}\n');
  const lines: string[] = [];
  assert.is(await failure(cfg('previous'), { log: (l) => lines.push(l) }),
    `--out-dir ${dir} holds another run's outputs (1 checkpoint, the newest shufflenetv1-9_9.safetensors and metrics.jsonl): continue that run with --resume, start over with --overwrite (deletes them), or choose another --out-dir`);
  assert.match(lines.join('\n'), new RegExp(`^taking over the stale lock .*train\\.lock: pid ${dead} on this host \\(started .*\\) is no longer running$`, 'm'));

  // --overwrite: the old outputs go; then step 1 writes a periodic checkpoint and step 2's (--max-steps) save fails
  lines.length = 0;
  const blocked = path.join(dir, 'shufflenetv1-1_2.safetensors');
  const msg = await failure(cfg('previous', { overwrite: true, maxSteps: 2, checkpointEvery: '1' }), {
    log: (l) => { lines.push(l); if (l.startsWith('model ShuffleNetV1')) fs.mkdirSync(blocked); }, // a directory where the checkpoint goes
  });
  assert.match(lines.join('\n'), /--overwrite: deleted the previous run's 1 checkpoint, the newest shufflenetv1-9_9\.safetensors and metrics\.jsonl/);
  assert.not.ok(fs.existsSync(path.join(dir, 'shufflenetv1-9_9.safetensors')));
  const previous = path.join(dir, 'shufflenetv1-1_1.periodic.safetensors');
  assert.is(msg, `cannot save the checkpoint ${blocked}: a directory is in the way: remove or rename it (EISDIR). ` +
    `The previous checkpoint ${previous} is intact (checkpoints are written to a temporary file and renamed into place); continue from it with --resume ${previous}.`);
  assert.is(((await readCheckpoint(previous)).training as { step: number }).step, 1);
  assert.equal(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
  assert.not.ok(fs.existsSync(path.join(dir, LOCK_NAME)), 'lock released');
});

type Line = Record<string, number | string>;
const metrics = (dir: string): Line[] => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line)
  .map(({ time: _t, imagesPerSec: _i, seconds: _s, ...rest }) => rest); // wall-clock fields differ between runs

test('--checkpoint-every N: periodic checkpoints inside epochs (newest 2 kept); resuming one repeats the same losses, metrics.jsonl cut back', async () => {
  // 8 steps, 3 per epoch: periodic saves at steps 2 and 5 (two steps after the last checkpoint, not at epoch ends)
  const a = await train(cfg('periodic-a', { checkpointEvery: '2' }), { log: () => {}, progress: false, datasets: data });
  assert.is(a.reason, 'max-steps');
  const dirA = path.join(root, 'periodic-a'), dirB = path.join(root, 'periodic-b');
  assert.equal(listCheckpoints(dirA).map((c) => path.basename(c.file)), ['shufflenetv1-1_2.periodic.safetensors', 'shufflenetv1-1_3.safetensors',
    'shufflenetv1-2_2.periodic.safetensors', 'shufflenetv1-2_3.safetensors', 'shufflenetv1-3_2.safetensors']);

  // the run killed after step 6 (its metrics went on past the checkpoint) and resumed from the periodic one of step 5
  fs.cpSync(dirA, dirB, { recursive: true });
  const lines: string[] = [];
  const b = await train(cfg('periodic-b', { checkpointEvery: '2', resume: path.join(dirB, 'shufflenetv1-2_2.periodic.safetensors') }),
    { log: (l) => lines.push(l), progress: false, datasets: data });
  assert.is(b.steps, 8);
  assert.match(lines.join('\n'), /metrics\.jsonl: dropped 3 line\(s\) written after step 5, the checkpoint's/);
  const ma = metrics(dirA), mb = metrics(dirB);
  assert.ok(ma.filter((m) => m.event === 'step').length >= 5);
  assert.equal(mb, ma, 'the same lines, losses included, in the same order');

  const ca = await readCheckpoint(path.join(dirA, 'shufflenetv1-3_2.safetensors')), cb = await readCheckpoint(path.join(dirB, 'shufflenetv1-3_2.safetensors'));
  let worst = 0;
  for (const [k, t, u] of [...[...ca.state].map(([k, t]) => [k, t, cb.state.get(k)!] as const), ...[...ca.momenta].map(([k, t]) => [k, t, cb.momenta.get(k)!] as const)]) {
    assert.ok(u, k);
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - u.data[i]!) / Math.max(1, Math.abs(t.data[i]!)));
  }
  assert.ok(worst <= 1e-6, `largest weight/momentum difference ${worst}`);
});

test.run();
