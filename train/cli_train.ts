// `npm run train -- [flags]`: flags -> train/config.ts -> train/trainer.ts. Exit status: 0 when
// training finished, stopped at --max-steps or was interrupted (a checkpoint was saved), 1 when the
// loss went NaN, 2 for bad flags.
import { describeDevice, initDevice } from '../engine/index.ts';
import { FlagError, runMain } from './flags.ts';
import { parseTrainArgs, trainHelp } from './config.ts';
import { train } from './trainer.ts';
import { hms } from './format.ts';

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseTrainArgs(argv);
  } catch (e) {
    if (e instanceof FlagError) { console.error(`npm run train: ${e.message}`); return 2; }
    throw e;
  }
  if (parsed.help) { console.log(trainHelp()); return 0; }
  await initDevice();
  console.log(`adapter: ${describeDevice()}`);
  const t0 = performance.now();
  console.log('============== Starting Training ==============');
  const r = await train(parsed.config, { explicit: parsed.explicit });
  const s = (performance.now() - t0) / 1000;
  console.log(`total time:${hms(s)}`);
  if (r.reason === 'nan') { console.error(r.message ?? 'loss became NaN'); return 1; }
  console.log(r.reason === 'interrupted' ? '============== Train Interrupted ==============' : '============== Train Success ==============');
  if (r.checkpoint) console.log(`checkpoint: ${r.checkpoint}`);
  return 0;
}

await runMain(main);
