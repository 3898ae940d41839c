// The CLIs' launcher (scripts/run_cli.ts) and its filter (scripts/dawn_noise.ts): Dawn's known start-up
// noise goes, every other line stays (a filter that dropped real warnings, or held a progress line
// back, fails here); the exit code and a death by signal come through; a stop signal reaches the child
// once (twice would make the trainer exit without saving).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { DawnNoiseFilter } from '../../scripts/dawn_noise.ts';
import { REPEAT_MS, onceForwarder } from '../../scripts/signal_forwarding.ts';

const VULKAN = "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory\n" +
  '    at operator() (/home/runner/work/node-webgpu/node-webgpu/third_party/dawn/src/dawn/native/vulkan/BackendVk.cpp:368)\n\n';
const LIMITS = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 90 to 16 to fit dynamic offset allocation limit.\n' +
  'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 80 to 16 to fit dynamic offset allocation limit.\n';
const XDG = 'error: XDG_RUNTIME_DIR is invalid or not set in the environment.\n';
const REAL = 'Warning: maxComputeWorkgroupSizeX reduced\n    at operator() (/x/y.cpp:12)\n\nerror: --lr: must be positive\n';

test('the filter drops the known noise, in any chunking, and keeps everything else', () => {
  const text = VULKAN + LIMITS + XDG + REAL + 'progress 50%';
  for (const size of [1, 3, 17, text.length]) {
    const f = new DawnNoiseFilter();
    let out = '';
    for (let i = 0; i < text.length; i += size) out += f.push(text.slice(i, i + size));
    out += f.end();
    assert.is(out, REAL + 'progress 50%', `chunks of ${size}`);
  }
});

test('a line that cannot be noise goes out before its newline (progress); a noise-like start waits', () => {
  const f = new DawnNoiseFilter();
  assert.is(f.push('epoch 1 [=====   '), 'epoch 1 [=====   ');
  assert.is(f.push('] 50%\n'), '] 50%\n');
  assert.is(f.push('Warning: max'), '');
  assert.is(f.push('Bindings: a real warning\n'), 'Warning: maxBindings: a real warning\n');
});

test('a repeat of the same signal within REPEAT_MS is one keypress (npm\'s copy); later, or another signal, is forwarded', () => {
  let t = 0;
  const sent: string[] = [];
  const forward = onceForwarder((sig) => sent.push(`${sig}@${t}`), () => t);
  forward('SIGINT');
  t = 1; forward('SIGINT'); // the terminal's and npm's copies of one Ctrl-C
  t = 2; forward('SIGHUP'); // a different signal always goes
  t = REPEAT_MS + 1; forward('SIGINT'); // a second Ctrl-C, pressed later
  t = REPEAT_MS + 2; forward('SIGINT');
  assert.equal(sent, ['SIGINT@0', 'SIGHUP@2', `SIGINT@${REPEAT_MS + 1}`]);
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'run-cli-test-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function launch(body: string, args: string[] = []) {
  const script = path.join(dir, `child_${Math.random().toString(36).slice(2)}.ts`);
  fs.writeFileSync(script, body);
  const p = spawn(process.execPath, ['--import', 'tsx', 'scripts/run_cli.ts', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stdout.on('data', (b) => { out += b; });
  p.stderr.on('data', (b) => { err += b; });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.on('close', (code, signal) => r({ code, signal })));
  return { p, done, out: () => out, err: () => err };
}

test('the launcher filters the child stderr, keeps stdout and arguments, exits with its code', async () => {
  const c = launch(`process.stderr.write(${JSON.stringify(VULKAN + LIMITS + REAL)}); console.log('args', process.argv.slice(2).join(' ')); process.exitCode = 3;`, ['--a', 'b c']);
  const r = await c.done;
  assert.is(r.code, 3);
  assert.is(c.err(), REAL);
  assert.is(c.out(), 'args --a b c\n');
});

test('a stop signal reaches the child once; its death by a signal is the launcher\'s', async () => {
  const counted = launch(`let n = 0; process.on('SIGTERM', () => { n++; }); console.log('ready'); setTimeout(() => { console.log('got', n); process.exit(143); }, 700);`);
  await new Promise<void>((r) => { const t = setInterval(() => { if (counted.out().includes('ready')) { clearInterval(t); r(); } }, 20); });
  counted.p.kill('SIGTERM');
  const r1 = await counted.done;
  assert.is(r1.code, 143);
  assert.match(counted.out(), /got 1\n/);
  const killed = launch(`console.log('ready'); setTimeout(() => {}, 10_000);`);
  await new Promise<void>((r) => { const t = setInterval(() => { if (killed.out().includes('ready')) { clearInterval(t); r(); } }, 20); });
  killed.p.kill('SIGHUP'); // the child has no handler: it dies of it, and so does the launcher
  const r2 = await killed.done;
  assert.is(r2.signal, 'SIGHUP');
});

test.run();
