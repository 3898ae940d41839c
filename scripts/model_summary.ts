// Prints ShuffleNetV1's per-layer output shapes, parameters and multiply-adds (model/summary.ts).
//   npm run model:summary -- --size 2.0x --group 3 [--classes 1000] [--image-size 224] [--stem imagenet|cifar] [--json]
// Pure arithmetic: needs no GPU.
import { formatSummary, summary } from '../model/summary.ts';
import type { Group, ModelSize, Stem } from '../model/architecture.ts';
import { programFlags, runMain } from '../train/flags.ts';

const FLAGS = {
  size: { type: 'choice', choices: ['0.5x', '1.0x', '1.5x', '2.0x'], default: '1.0x', help: 'channel width' },
  group: { type: 'int', min: 1, default: 3, help: 'groups of the pointwise convolutions (1, 2, 3, 4 or 8)' },
  classes: { type: 'int', min: 1, default: 1000, help: 'outputs of the classifier' },
  'image-size': { type: 'int', min: 1, default: 224, metavar: 'PX', help: 'input height and width' },
  stem: { type: 'choice', choices: ['imagenet', 'cifar'], default: 'imagenet', help: 'imagenet: 3x3 s2 conv + max pool; cifar: 3x3 s1 conv' },
  json: { type: 'bool', default: false, help: 'print the summary as JSON' },
} as const;

async function main(argv: string[]): Promise<number> {
  const p = programFlags('model:summary', 'Usage: npm run model:summary -- [flags]\n\nShuffleNetV1 layer by layer: output shapes, parameters, multiply-adds.', FLAGS, argv);
  if (typeof p === 'number') return p;
  const v = p.values;
  try {
    const s = summary({ size: v.size as ModelSize, group: v.group as Group, classes: v.classes, imageSize: v['image-size'], stem: v.stem as Stem });
    console.log(v.json ? JSON.stringify(s, null, 1) : formatSummary(s));
    return 0;
  } catch (e) {
    console.error(`model:summary: ${(e as Error).message}`);
    return 2;
  }
}

await runMain(main);
