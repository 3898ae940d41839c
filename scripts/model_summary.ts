// Prints ShuffleNetV1's per-layer output shapes, parameters and multiply-adds (model/summary.ts).
//   npm run model:summary -- --size 2.0x --group 3 [--classes 1000] [--image 224] [--stem imagenet|cifar] [--json]
// Pure arithmetic: needs no GPU.
import { parseArgs } from 'node:util';
import { formatSummary, summary } from '../model/summary.ts';
import type { Group, ModelSize, Stem } from '../model/architecture.ts';

const { values: v } = parseArgs({
  options: {
    size: { type: 'string', default: '1.0x' },
    group: { type: 'string', default: '3' },
    classes: { type: 'string', default: '1000' },
    image: { type: 'string', default: '224' },
    stem: { type: 'string', default: 'imagenet' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) {
  console.log('usage: npm run model:summary -- [--size 0.5x|1.0x|1.5x|2.0x] [--group 1|2|3|4|8] [--classes N] [--image PX] [--stem imagenet|cifar] [--json]');
  process.exit(0);
}
try {
  const s = summary({
    size: v.size as ModelSize, group: Number(v.group) as Group, classes: Number(v.classes),
    imageSize: Number(v.image), stem: v.stem as Stem,
  });
  console.log(v.json ? JSON.stringify(s, null, 1) : formatSummary(s));
} catch (e) {
  console.error((e as Error).message);
  process.exit(2);
}
