// Runs our ShuffleNetV1 in train and in eval mode, each in f32 and in f16 activations (one forward +
// backward of loss·S) from the same seeded weights and N(0, 1) input, and writes what f16_twin.py compares:
//   param.*                 initial state dict (f32)          input, labels
//   <m>.<dt>.logits, .loss, .grad.*                           (grads divided by S); m = train | eval, dt = f32 | f16
//   <m>.<dt>.act.<tap>, .dact.<tap>                           activation and its gradient (/S) at each tap:
//                           stem (after max pool), features.N (unit outputs), pool (global average), logits
//   node --import tsx scripts/torch_twin/engine_grads.ts --size 0.5x --group 3 --image 32 --batch 8 --out F
// Flags: --seed (default 1), --scale S (default 1024). WG_F16=packed forces packed halves.
import { Tensor, backward, initDevice, describeDevice, defineOp, scope, Rng, type DType } from '../../engine/index.ts';
import { scaleForward } from '../../kernels/elementwise.ts';
import { maxPool2d } from '../../kernels/max_pool.ts';
import { globalAvgPool } from '../../kernels/global_avg_pool.ts';
import { softmaxCrossEntropy } from '../../kernels/softmax_xent.ts';
import { f16Storage } from '../../kernels/kernel.ts';
import { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { type StTensor } from '../../model/safetensors.ts';
import { writeSafetensorsFile } from '../../train/checkpoint_io.ts';
import type { Group, ModelSize } from '../../model/architecture.ts';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const size = (args.get('size') ?? '0.5x') as ModelSize, group = Number(args.get('group') ?? 3) as Group;
const image = Number(args.get('image') ?? 32), batch = Number(args.get('batch') ?? 8);
const seed = Number(args.get('seed') ?? 1), S = Number(args.get('scale') ?? 1024);
const out = args.get('out');
if (!out) throw new Error('--out FILE is required');
const CLASSES = 10, SMOOTHING = 0.1;

await initDevice();

// identity whose backward keeps a handle on the gradient flowing through it (exact copies both ways)
const taps: { name: string; dy: Tensor }[] = [];
const tap = defineOp('tap', {
  forward: (x: Tensor, name: string) => ({ y: scaleForward(x, 1), saved: { name } }),
  backward: (dy, { name }) => { taps.push({ name, dy: dy.share() }); return [scaleForward(dy, 1)]; },
});

const rng = new Rng(seed + 1000);
const xData = Float32Array.from(rng.normals(batch * 3 * image * image));
const labelData = Float32Array.from({ length: batch }, () => rng.int(CLASSES));
const model = new ShuffleNetV1({ size, group, classes: CLASSES, imageSize: image, stem: 'imagenet', seed });
const init = await model.readStateDict();

const tensors: Record<string, StTensor> = {};
const f32 = (name: string, shape: readonly number[], data: ArrayLike<number>) => { tensors[name] = { dtype: 'F32', shape: [...shape], data: Float32Array.from(data) }; };
for (const [k, v] of init) f32(`param.${k}`, v.shape, v.data);
f32('input', [batch, 3, image, image], xData);
tensors.labels = { dtype: 'I64', shape: [batch], data: BigInt64Array.from(labelData, (v) => BigInt(v)) };

for (const [mode, dtype] of [['train', 'f32'], ['train', 'f16'], ['eval', 'f32'], ['eval', 'f16']] as const) {
  const k = `${mode}.${dtype}`;
  model.loadStateDict(init);
  model.train(mode === 'train');
  const acts: { name: string; t: Tensor }[] = [];
  const keep = (name: string, t: Tensor) => { const y = tap(t, name); acts.push({ name, t: y.share() }); return y; };
  const x = Tensor.from(xData, [batch, 3, image, image], dtype as DType);
  const labels = Tensor.from(labelData, [batch]);
  let h = keep('stem', scope(() => maxPool2d(model.stemBn.forward(model.stemConv.forward(x), true))));
  model.units.forEach((u, i) => {
    const next = keep(`features.${i}`, u.forward(h));
    h.dispose();
    h = next;
  });
  const pooled = keep('pool', globalAvgPool(h));
  const logits = keep('logits', model.classifier.forward(pooled));
  const loss = softmaxCrossEntropy(logits, labels, { smoothing: SMOOTHING });
  f32(`${k}.logits`, logits.shape, await logits.read());
  f32(`${k}.loss`, [], await loss.read());
  backward(loss, S);
  for (const p of model.parameters()) f32(`${k}.grad.${p.name}`, p.tensor.shape, (await p.tensor.grad!.read()).map((v) => v / S));
  for (const a of acts) { f32(`${k}.act.${a.name}`, a.t.shape, await a.t.read()); a.t.dispose(); }
  for (const t of taps.splice(0)) { f32(`${k}.dact.${t.name}`, t.dy.shape, (await t.dy.read()).map((v) => v / S)); t.dy.dispose(); }
  for (const t of [x, labels, h, pooled, logits, loss]) t.dispose();
  model.zeroGrad();
}

const adapter = describeDevice();
await writeSafetensorsFile(out, tensors, {
  size, group: String(group), image: String(image), batch: String(batch), seed: String(seed), scale: String(S),
  classes: String(CLASSES), smoothing: String(SMOOTHING), adapter, f16_storage: f16Storage(),
});
console.log(`${out}: ${size} g=${group} ${image}x${image} b${batch}, ${adapter}, f16 ${f16Storage()}`);
process.exit(0); // Dawn's device would keep the event loop alive
