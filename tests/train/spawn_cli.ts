// A CLI (train/cli_*.ts) run as a child process for tests: its output so far, waiting for a line, its
// exit status. The output is stdout and stderr together, in arrival order.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';

export interface Cli {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output matches `re`; rejects after `ms`, or if the program exits first. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** The exit code (null if a signal killed it) and that signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `cwd`: run there (to see where a program writes its default files); tsx and `script` still come from here. */
export function startCli(script: string, args: string[], opts: { cwd?: string } = {}): Cli {
  // `--import tsx` resolves from the working directory, which need not hold node_modules
  const argv = opts.cwd ? ['--import', createRequire(import.meta.url).resolve('tsx'), path.resolve(script)] : ['--import', 'tsx', script];
  const child = spawn(process.execPath, [...argv, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  let out = '';
  const listeners = new Set<() => void>();
  const add = (b: Buffer) => { out += b.toString(); for (const l of listeners) l(); };
  child.stdout!.on('data', add);
  child.stderr!.on('data', add);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => { done = true; for (const l of listeners) l(); resolve({ code, signal }); });
  });
  const waitFor = (re: RegExp, ms = 180_000) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { listeners.delete(check); reject(new Error(`timed out waiting for ${re}; output:\n${out}`)); }, ms);
    const check = () => {
      if (re.test(out)) { clearTimeout(timer); listeners.delete(check); resolve(); } else if (done) { clearTimeout(timer); listeners.delete(check); reject(new Error(`exited before ${re}; output:\n${out}`)); }
    };
    listeners.add(check);
    check();
  });
  return { child, output: () => out, waitFor, exited };
}
