// The npm scripts' launcher: `node --import tsx scripts/run_cli.ts SCRIPT [ARGS...]` runs SCRIPT in a
// child Node process and passes its output through, less the native start-up noise that
// scripts/dawn_noise.ts lists (WG_VERBOSE=1 passes everything). The child runs in its own process group
// and each stop signal is forwarded to it once, so Ctrl-C reaches it once (the terminal signals only
// the launcher's group; a copy npm forwards as well is dropped: scripts/signal_forwarding.ts), as the
// trainer's first-signal-saves rule needs. The launcher exits as the child did: with its code, or by
// its signal.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { DawnNoiseFilter } from './dawn_noise.ts';
import { onceForwarder } from './signal_forwarding.ts';

const [script, ...args] = process.argv.slice(2);
if (!script) { console.error('usage: node --import tsx scripts/run_cli.ts SCRIPT [ARGS...]'); process.exit(2); }
const verbose = !!process.env.WG_VERBOSE && process.env.WG_VERBOSE !== '0';
const tsx = createRequire(import.meta.url).resolve('tsx');
const child = spawn(process.execPath, ['--import', tsx, script, ...args], {
  stdio: ['inherit', 'inherit', verbose ? 'inherit' : 'pipe'],
  detached: true, // its own process group: see the header
});
if (child.stderr) {
  const filter = new DawnNoiseFilter();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => { const out = filter.push(s); if (out) process.stderr.write(out); });
  child.stderr.on('end', () => { const out = filter.end(); if (out) process.stderr.write(out); });
}
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const forward = onceForwarder((sig) => { child.kill(sig); });
for (const s of SIGNALS) process.on(s, forward);
child.on('error', (e) => { console.error(`error: could not start ${script}: ${e.message}`); process.exit(1); });
child.on('close', (code, signal) => {
  for (const s of SIGNALS) process.off(s, forward);
  if (!signal) process.exit(code ?? 1);
  process.kill(process.pid, signal); // end the same way
  setTimeout(() => process.exit(1), 1000).unref(); // a signal whose default is not to end
});
