// `npm run train -- [flags]`: flags -> train/config.ts -> train/trainer.ts. Without --preset the
// adapter decides: seed on a GPU, fast on a CPU (train/preset_choice.ts says which, why, and the cost).
// Exit status: 0 when training finished or stopped at --max-steps; 128 + the signal's number after a
// stop signal and a saved checkpoint (SIGINT 130, SIGTERM 143, SIGHUP 129; the same, without saving,
// for a second signal or one during start-up); 1 when the loss went NaN or on an error; 2 for bad flags.
import { deviceInfo, describeDevice, initDevice } from '../engine/index.ts';
import { FlagError, runMain } from './flags.ts';
import { parseTrainArgs, trainHelp } from './config.ts';
import { train } from './trainer.ts';
import { readInit } from './init_from.ts';
import { resolvePrecision } from './adapter.ts';
import { choiceLines, costLine } from './preset_choice.ts';
import { signalExitCode } from './stop_policy.ts';
import { hms } from './format.ts';
import { useTuneCache } from './tune_cache.ts';
import { reductionLine } from '../kernels/reduction_shape.ts';

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
  const tuning: string[] = []; // loaded now, so the cost estimate below runs the tuned kernels; said after it
  useTuneCache((l) => tuning.push(l));
  // --preset auto is settled by the adapter; a resumed run takes the checkpoint's preset instead
  if (!parsed.config.resume) {
    parsed = parseTrainArgs(argv, deviceInfo());
    try {
      // --init's architecture replaces the preset's: the estimate below is for the model that will train
      const init = await readInit(parsed.config, parsed.explicit);
      if (init) parsed.config = init.config;
    } catch (e) {
      if (e instanceof FlagError) { console.error(`npm run train: ${e.message}`); return 2; }
      throw e;
    }
    const lines = choiceLines(parsed.preset);
    for (const l of lines) console.log(l);
    if (lines.length) console.log(await costLine(parsed.config, resolvePrecision(parsed.config.precision)));
  }
  for (const l of tuning) console.log(l);
  console.log(reductionLine()); // the one kernel choice that sets a summation order: a resume elsewhere differs
  const t0 = performance.now();
  console.log('============== Starting Training ==============');
  const r = await train(parsed.config, { explicit: parsed.explicit });
  const s = (performance.now() - t0) / 1000;
  console.log(`total time:${hms(s)}`);
  if (r.reason === 'nan') { console.error(`error: ${r.message ?? 'the loss became non-finite'}`); return 1; } // as runMain prints errors
  console.log(r.reason === 'interrupted' ? '============== Train Interrupted ==============' : '============== Train Success ==============');
  if (r.checkpoint) console.log(`checkpoint: ${r.checkpoint}`);
  return r.signal ? signalExitCode(r.signal) : 0;
}

await runMain(main);
