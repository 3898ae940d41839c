// `npm run demo`: builds the browser bundle and the demo page (scripts/web/build.ts), then serves them
// on localhost until Ctrl-C. `--checkpoint FILE` serves a .safetensors checkpoint (e.g. one that
// `npm run train` wrote) that the page loads at start, fetched and decoded from bytes.
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { FlagError, programFlags, runMain } from '../../train/flags.ts';
import { buildWeb, describeBuild } from './build.ts';
import { serveDir } from './serve.ts';

const FLAGS = {
  port: { type: 'int', min: 0, max: 65535, default: 8080, help: 'port on 127.0.0.1 (0: any free one)' },
  checkpoint: { type: 'string', default: null, metavar: 'FILE', help: 'a .safetensors checkpoint the page loads at start' },
} as const;

const USAGE = 'Usage: npm run demo -- [--port N] [--checkpoint FILE.safetensors]\n\n' +
  'Builds dist-web/ and serves the demo page: classify drawn or dropped images, train a few steps, all in WebGPU.';

async function main(argv: string[]): Promise<number> {
  const p = programFlags('npm run demo', USAGE, FLAGS, argv, {
    validate: (q) => {
      const f = q.values.checkpoint;
      if (f && !existsSync(f)) throw new FlagError(`--checkpoint: ${f} does not exist`);
      if (f && !f.endsWith('.safetensors')) throw new FlagError(`--checkpoint: ${f} is not a .safetensors file (the page reads safetensors checkpoints)`);
    },
  });
  if (typeof p === 'number') return p;
  console.log(describeBuild(await buildWeb()));
  const ck = p.values.checkpoint;
  const served = await serveDir(resolve('dist-web'), { port: p.values.port, extra: ck ? { '/checkpoint.safetensors': resolve(ck) } : {} });
  console.log(`demo: open ${served.url}${ck ? '?checkpoint=checkpoint.safetensors' : ''} in a browser with WebGPU (Ctrl-C stops)`);
  await new Promise<void>((done) => process.once('SIGINT', done));
  await served.close();
  return 0;
}

await runMain(main);
