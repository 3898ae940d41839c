// Ctrl-C pressed in a terminal at `npm run train`, the way a user stops a run: the test runs the
// command in a pseudo-terminal (util-linux's `script`) and types ^C, so the terminal's line discipline
// sends SIGINT to its whole foreground process group (npm, the shell npm starts, the launcher
// scripts/run_cli.ts); the trainer, in a process group of its own, hears of it only from the launcher.
// One Ctrl-C finishes the step, saves and exits 130; a second exits 130 at once without saving; either
// way nothing is left running and no lock is left. Catches: the one SIGINT reaching the trainer twice,
// so that it exits without saving (npm passes a SIGINT on to its child on top of the terminal's: where
// npm's script shell execs the command, as bash does, the launcher itself gets both; a launcher that
// passed on both, or a trainer left in the terminal's group, fails here), a status lost through npm or
// the launcher (130 becoming 1), and npm returning to the prompt while the trainer still runs (a hangup
// when the terminal's session ends would then stop it without saving). Where npm is missing (the
// Debian 13 root of scripts/vulkan_root.sh has none) the "train" script of package.json runs without
// it, and the test names say so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readCheckpoint } from '../../train/checkpoint_io.ts';
import { listCheckpoints } from '../../train/checkpoint_files.ts';
import { LOCK_NAME } from '../../train/run_lock.ts';
import { writeTinyFashionMnist } from './tiny_fashion_mnist.ts';
import { REPEAT_MS } from '../../scripts/signal_forwarding.ts';

/** Why no terminal can be made here (null: it can): the test fails with this, rather than skip. */
function noTerminal(): string | null {
  const v = spawnSync('script', ['--version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0 || !/util-linux/.test(v.stdout)) {
    return "this test needs util-linux's `script` to run the trainer in a pseudo-terminal, and `script --version` " +
      `${v.error ? `failed: ${v.error.message}` : `printed: ${(v.stdout + v.stderr).trim()}`}; on Debian it is in the package bsdutils`;
  }
  const p = spawnSync('script', ['-qec', 'true', '/dev/null'], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  if (p.status !== 0) {
    return `\`script\` could not open a pseudo-terminal here: ${(p.stdout + p.stderr).trim() || `exit status ${p.status}`} ` +
      '(is /dev/pts mounted? a chroot needs it bound as well as /dev)';
  }
  return null;
}
const terminalProblem = noTerminal();
const hasNpm = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;
// the command npm runs for `npm run train` (without npm: the same, minus npm and its shell)
const trainScript = (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.train!;
const how = hasNpm ? 'npm run train' : `no npm here: ${trainScript}`;

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'terminal-ctrl-c-test-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
const data = writeTinyFashionMnist(path.join(root, 'fm'), 64);
// 8 steps per epoch, many epochs: the run goes on until stopped
const args = (out: string) => ['--dataset', 'fashion-mnist', '--data-dir', data, '--preset', 'fast', '--batch-size', '8', '--precision', 'fp32',
  '--lr', '0.005', '--eval-every', '0', '--log-every', '1', '--epochs', '200', '--out-dir', out];
const DESCRIBED = /^model ShuffleNetV1/m; // logged once a signal saves instead of exiting
const FIRST = /Ctrl-C \(SIGINT\): finishing the current step/;
const count = (re: RegExp, text: string) => text.match(new RegExp(re.source, 'g'))?.length ?? 0;
const CTRL_C = '\x03'; // what the Ctrl-C key sends; the line discipline (ISIG) turns it into SIGINT

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface Terminal {
  script: ChildProcess;
  output(): string;
  /** Resolves when the output matches `re`; rejects (with the output) after `ms`, or if the session ends first. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** script's exit status: -e gives the command's, and 128 + N for a death by signal N, as a shell's $? does. */
  exited(ms?: number): Promise<number | null>;
  pressCtrlC(): void;
}

/** `cmd` in a new pseudo-terminal, as the session's foreground job; its stdin is ours to type into. */
function startInTerminal(cmd: string, env: Record<string, string> = {}): Terminal {
  if (terminalProblem) throw new Error(terminalProblem);
  // -q: no start/done lines, -e: the command's status, -f: output at once, -c: the command, run by $SHELL -c
  const script = spawn('script', ['-qefc', `exec ${cmd}`, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SHELL: '/bin/sh', npm_config_update_notifier: 'false', ...env },
  });
  let out = '';
  let done = false;
  const listeners = new Set<() => void>();
  const add = (s: string) => { out += s; for (const l of listeners) l(); };
  for (const stream of [script.stdout!, script.stderr!]) stream.setEncoding('utf8').on('data', add); // a split character stays whole
  const status = new Promise<number | null>((resolve) => {
    script.on('close', (code) => { done = true; for (const l of listeners) l(); resolve(code); });
  });
  const waitFor = (re: RegExp, ms = 180_000) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { listeners.delete(check); reject(new Error(`timed out after ${ms} ms waiting for ${re}; output:\n${out}`)); }, ms);
    const check = () => {
      if (re.test(out)) { clearTimeout(timer); listeners.delete(check); resolve(); } else if (done) { clearTimeout(timer); listeners.delete(check); reject(new Error(`the session ended before ${re}; output:\n${out}`)); }
    };
    listeners.add(check);
    check();
  });
  const exited = (ms = 120_000) => Promise.race([status, new Promise<never>((_, reject) => {
    setTimeout(() => reject(new Error(`still running ${ms} ms after Ctrl-C; output:\n${out}`)), ms).unref();
  })]);
  return { script, output: () => out, waitFor, exited, pressCtrlC: () => { script.stdin!.write(CTRL_C); } };
}

const command = (out: string) => `${hasNpm ? 'npm run train --' : trainScript} ${args(out).map(quote).join(' ')}`;

/** The trainer's pid, from the lock it holds in `out` (it runs in its own group: the session's end does not take it along). */
function trainerPid(out: string): number {
  return (JSON.parse(fs.readFileSync(path.join(out, LOCK_NAME), 'utf8')) as { pid: number }).pid;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Ends what a failed case left running: the trainer (its own group) and the terminal session. */
function cleanUp(t: Terminal, pid: number | null): void {
  if (pid !== null && alive(pid)) process.kill(pid, 'SIGKILL');
  if (t.script.exitCode === null && t.script.signalCode === null) t.script.kill('SIGKILL');
  t.script.stdin!.destroy();
}

function oneCtrlC(name: string, label: string, env: Record<string, string> = {}): void {
  test(`one Ctrl-C in a terminal (${label}) saves after the current step and exits 130`, async () => {
    const out = path.join(root, name);
    const t = startInTerminal(command(out), env);
    let pid: number | null = null;
    try {
      await t.waitFor(DESCRIBED);
      pid = trainerPid(out);
      t.pressCtrlC();
      const code = await t.exited();
      // checked at once: when the session ends, the trainer must be done (not still saving, or orphaned)
      const running = alive(pid), locked = fs.existsSync(path.join(out, LOCK_NAME));
      const text = t.output();
      assert.ok(text.includes('\r\n'), `the output did not pass through a terminal (no \\r\\n):\n${text}`);
      if (hasNpm) assert.match(text, /^> \S+ train\r$/m, `npm did not run the command:\n${text}`);
      assert.is(code, 130, text);
      assert.is(count(FIRST, text), 1, `the trainer should hear of one Ctrl-C once:\n${text}`);
      assert.not.match(text, /again: exiting without saving/, `the trainer heard of the one Ctrl-C twice, so it exited without saving:\n${text}`);
      const m = /stopped at step (\d+); saved (\S+)\. Continue with --resume/.exec(text);
      assert.ok(m, `no "stopped at step N; saved FILE" line:\n${text}`);
      const ck = await readCheckpoint(m![2]!);
      assert.is((ck.training as { step: number }).step, Number(m![1]));
      assert.not.ok(running, `the trainer (pid ${pid}) still ran when the terminal's command had exited:\n${text}`);
      assert.not.ok(locked, 'lock removed');
    } finally {
      cleanUp(t, pid);
    }
  });
}

oneCtrlC('once', how);
// npm's default script shell here is /bin/sh (dash on Debian), which stays between npm and the launcher
// and takes npm's copy of the SIGINT; bash (/bin/sh on Fedora and Arch, or npm's script-shell setting)
// execs the command, so the launcher hears the one Ctrl-C twice
if (hasNpm) oneCtrlC('once-bash', 'npm run train, script shell bash', { npm_config_script_shell: 'bash' });
else console.log('terminal_ctrl_c: no npm here; the case with npm\'s script shell bash needs npm and did not run');

test(`a second Ctrl-C in a terminal (${how}) exits 130 at once without saving`, async () => {
  const out = path.join(root, 'twice');
  const t = startInTerminal(command(out));
  let pid: number | null = null;
  try {
    await t.waitFor(DESCRIBED);
    pid = trainerPid(out);
    t.pressCtrlC();
    const firstAt = performance.now();
    await t.waitFor(FIRST, 60_000);
    // the launcher takes a repeat within REPEAT_MS for npm's copy of the same keypress
    await new Promise((r) => setTimeout(r, Math.max(0, firstAt + 2 * REPEAT_MS - performance.now())));
    const secondAt = t.output().length;
    t.pressCtrlC();
    const code = await t.exited();
    const running = alive(pid), locked = fs.existsSync(path.join(out, LOCK_NAME));
    const text = t.output();
    assert.is(code, 130, text);
    assert.is(count(FIRST, text), 1, `the first Ctrl-C should reach the trainer once:\n${text}`);
    assert.match(text.slice(secondAt), /Ctrl-C \(SIGINT\) again: exiting without saving/, `"again" should follow the second Ctrl-C:\n${text}`);
    assert.not.match(text, /stopped at step/, `the second Ctrl-C should exit without saving:\n${text}`);
    assert.equal(listCheckpoints(out).filter((f) => f.step % 8 !== 0), [], 'no checkpoint but (possibly) epoch ends');
    assert.not.ok(running, `the trainer (pid ${pid}) still ran when the terminal's command had exited:\n${text}`);
    assert.not.ok(locked, 'lock removed');
  } finally {
    cleanUp(t, pid);
  }
});

test.run();
