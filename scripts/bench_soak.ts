// `npm run bench:soak [-- --steps N --every N]`: replayed training steps of the fast preset's network
// (batch 16) with device memory (buffer pool) and process RSS sampled; both should stay flat after the
// warm-up. Prints the samples and the growth after the first tenth of the run.
import { initDevice, describeDevice } from '../engine/index.ts';
import { programFlags, runMain } from '../train/flags.ts';
import { growth, soak, soakCase } from '../train/soak.ts';

const FLAGS = {
  steps: { type: 'int', min: 10, default: 2000, metavar: 'N', help: 'replayed steps' },
  every: { type: 'int', min: 1, default: 100, metavar: 'N', help: 'sample every N steps' },
} as const;

async function main(argv: string[]): Promise<number> {
  const p = programFlags('npm run bench:soak', 'Usage: npm run bench:soak -- [flags]\n\nReplayed training steps with device memory and RSS sampled.', FLAGS, argv);
  if (typeof p === 'number') return p;
  const { steps, every } = p.values;
  await initDevice();
  console.log(`adapter: ${describeDevice()}`);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const samples = await soak(soakCase(), steps, every);
  console.log('  step  pool MiB  live MiB   RSS MiB  arrays MiB  V8 heap MiB  ms/step');
  for (const s of samples) console.log(`${String(s.step).padStart(6)}  ${mib(s.poolBytes).padStart(8)}  ${mib(s.liveBytes).padStart(8)}  ${mib(s.rssBytes).padStart(8)}  ${mib(s.arrayBytes).padStart(10)}  ${mib(s.heapBytes).padStart(11)}  ${s.ms.toFixed(1).padStart(7)}`);
  const g = growth(samples, Math.ceil(steps / 10));
  console.log(`growth after step ${Math.ceil(steps / 10)}: pool ${mib(g.poolBytes)} MiB, RSS ${mib(g.rssBytes)} MiB (median per step: RSS ${(g.rssBytesPerStep / 1024).toFixed(1)} KiB, ArrayBuffers ${(g.arrayBytesPerStep / 1024).toFixed(1)} KiB)`);
  return 0;
}

await runMain(main, { stack: true });
