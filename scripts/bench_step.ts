// Host time per training step of the test MLP, eager vs captured-and-replayed, on the current adapter.
// "host" = time to issue and submit the step (JavaScript, Dawn encoding, submit; no waiting for the GPU);
// "step" = host + waiting until the GPU is done.
import { initDevice, describeDevice, Tensor, Rng, capture, sync, flush, counters } from '../engine/index.ts';
import { Mlp, xorBatch } from '../tests/util/mlp.ts';
import { programFlags, runMain } from '../train/flags.ts';

const FLAGS = {
  steps: { type: 'int', min: 1, default: 200, metavar: 'N', help: 'timed steps per mode (the median is reported)' },
} as const;
const USAGE = 'Usage: npm run bench:step [-- --steps N]\n\nHost time per training step of the test MLP, eager vs captured-and-replayed, on the current adapter.';

async function main(argv: string[]): Promise<number> {
  const p = programFlags('npm run bench:step', USAGE, FLAGS, argv);
  if (typeof p === 'number') return p;
  const STEPS = p.values.steps;
  await initDevice();
  console.log(`adapter: ${describeDevice()}`);

  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const mlp = new Mlp(64, 1);
  const x = Tensor.zeros([128, 2]), t = Tensor.zeros([128, 1]), hyper = Tensor.from([0.01, 0.9, 1e-4, 1], [4]);
  const batch = xorBatch(new Rng(2), 128);
  x.write(batch.x); t.write(batch.t);

  async function time(run: () => void): Promise<{ host: number; step: number; dispatches: number }> {
    for (let i = 0; i < 10; i++) run();
    await sync();
    const host: number[] = [], step: number[] = [];
    const d0 = counters.dispatches;
    for (let i = 0; i < STEPS; i++) {
      const t0 = performance.now();
      run();
      flush();
      const t1 = performance.now();
      await sync();
      host.push(t1 - t0);
      step.push(performance.now() - t0);
    }
    return { host: median(host), step: median(step), dispatches: (counters.dispatches - d0) / STEPS };
  }

  const eager = await time(() => mlp.step(x, t, hyper).dispose());
  const { step, result } = capture(() => mlp.step(x, t, hyper));
  const replay = await time(() => step.run());
  const fmt = (v: number) => v.toFixed(3).padStart(8);
  console.log(`test MLP 2-64-1, batch 128, ${step.commands} GPU commands per step, median of ${STEPS}`);
  console.log(`mode     host ms/step   step ms (incl. GPU)`);
  console.log(`eager    ${fmt(eager.host)}       ${fmt(eager.step)}`);
  console.log(`replay   ${fmt(replay.host)}       ${fmt(replay.step)}`);
  console.log(`host time per command: eager ${(1000 * eager.host / step.commands).toFixed(1)} µs, replay ${(1000 * replay.host / step.commands).toFixed(1)} µs`);
  step.dispose(); result.dispose(); mlp.dispose();
  return 0;
}

await runMain(main, { stack: true });
