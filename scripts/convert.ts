// `npm run convert -- IN OUT`: a ShuffleNetV1 checkpoint from one format to the other, chosen by the
// extensions: .safetensors -> MindSpore .ckpt, or .ckpt -> .safetensors. Weights, batch-norm
// statistics and momentum buffers carry over (ours optimizer.momentum.<name> <-> MindSpore Momentum's
// moments.<tag>; model/mindspore_names.ts maps the names). What has no counterpart stays behind and is
// named: our training record (resume state: use the output with `npm run train -- --init`), and a
// MindSpore file's learning_rate, global_step and the like. Our configuration travels inside a .ckpt
// as a str value, so a round trip keeps the stem; a MindSpore-made .ckpt records none: size, group and
// classes are inferred from the shapes, the stem from --stem. Host only (no GPU); the output is written
// atomically.
import * as path from 'node:path';
import { STEMS, type Stem } from '../model/architecture.ts';
import { isMindsporePath } from '../model/checkpoint.ts';
import { readCheckpoint, writeCheckpointFile } from '../train/checkpoint_io.ts';
import { FlagError, programFlags, runMain } from '../train/flags.ts';

const FLAGS = {
  stem: { type: 'choice', choices: STEMS, default: 'imagenet', help: "a .ckpt's stem when the file records none (MindSpore's own do not; it changes no tensor shape)" },
  'image-size': { type: 'int', min: 32, max: 1024, default: 0, help: "nominal input size recorded in the output (0: the input's; 224 for a .ckpt that records none)" },
  crc: { type: 'bool', default: false, help: "append MindSpore's CRC-32 trailer to a .ckpt output (save_checkpoint(crc_check=True); older MindSpore releases cannot read it)" },
} as const;

const USAGE = 'Usage: npm run convert -- IN OUT [flags]\n\n' +
  'Converts a ShuffleNetV1 checkpoint between .safetensors and MindSpore .ckpt (the direction from the extensions).';

const kind = (f: string) => (isMindsporePath(f) ? 'ckpt' : f.toLowerCase().endsWith('.safetensors') ? 'safetensors' : null);

async function main(argv: string[]): Promise<number> {
  const p = programFlags('npm run convert', USAGE, FLAGS, argv, {
    positional: true,
    validate: (q) => {
      if (q.positional.length !== 2) throw new FlagError(`expected IN and OUT, got ${q.positional.length} argument(s)`);
      const [a, b] = q.positional as [string, string];
      for (const f of [a, b]) if (!kind(f)) throw new FlagError(`${f}: unknown extension; use .safetensors or .ckpt`);
      if (kind(a) === kind(b)) throw new FlagError(`${a} and ${b} are both .${kind(a)}: one side must be .safetensors and the other .ckpt`);
      if (path.resolve(a) === path.resolve(b)) throw new FlagError('IN and OUT are the same file');
      if (q.explicit.has('stem') && !isMindsporePath(a)) throw new FlagError(`--stem: only for a .ckpt input; ${a} records its stem`);
      if (q.explicit.has('crc') && !isMindsporePath(b)) throw new FlagError('--crc: only for a .ckpt output');
    },
  });
  if (typeof p === 'number') return p;
  const [input, output] = p.positional as [string, string];
  const v = p.values;
  const hints = { ...(p.explicit.has('stem') ? { stem: v.stem as Stem } : {}), ...(v['image-size'] ? { imageSize: v['image-size'] } : {}) };
  const ck = await readCheckpoint(input, { mindspore: hints });
  if (v['image-size']) ck.config = { ...ck.config, imageSize: v['image-size'] };
  for (const note of ck.notes) console.log(`note: ${note}`);
  await writeCheckpointFile(output, ck, { crc: v.crc });
  const c = ck.config;
  console.log(`wrote ${output}: ShuffleNetV1 ${c.size} g=${c.group}, ${c.classes} classes, ${c.stem} stem, image size ${c.imageSize}; ` +
    `${ck.state.size} state-dict tensors, ${ck.momenta.size} momentum buffers${isMindsporePath(output) && v.crc ? ', CRC trailer' : ''}`);
  if (ck.training) console.log(`note: ${input}'s training record (resume state) is not carried over; fine-tune from ${output} with npm run train -- --init ${output}`);
  return 0;
}

await runMain(main);
