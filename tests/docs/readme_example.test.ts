// The README's embedding example, run as written (only the package name is mapped to the entry file),
// so the documented API cannot drift from the real one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import '../util/gpu.ts';
import { loadCheckpoint } from '../../train/checkpoint_io.ts';
import { Tensor, backward, roundToHalf } from '../../engine/index.ts';
import { sum } from '../../kernels/reduce.ts';

function readmeExample(name: string): string {
  const readme = readFileSync('README.md', 'utf8');
  const m = new RegExp(`<!-- example:${name} -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(readme);
  assert.ok(m, `README.md has no \`<!-- example:${name} -->\` ts block`);
  return m[1].replace(/from 'shufflenet-webgpu'/g, `from '${resolve('index.ts')}'`);
}

test('README example runs: load, eval, train forward, loss, backward, step, save, read back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'readme-'));
  const file = join(dir, 'example.mts');
  writeFileSync(file, readmeExample('embed'));
  const lines: string[] = [];
  const log = console.log, tmp = process.env.TMPDIR;
  console.log = (...a: unknown[]) => { lines.push(a.map(String).join(' ')); };
  process.env.TMPDIR = dir;
  try { await import(file); } finally { console.log = log; if (tmp === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = tmp; }
  const value = (label: string) => {
    const l = lines.find((s) => s.startsWith(label));
    assert.ok(l, `example printed no '${label}' line; got:\n${lines.join('\n')}`);
    return Number(l.slice(label.length).trim().split(/[ ,]/)[0]);
  };
  const loss = value('loss');
  assert.ok(loss > 1 && loss < 5, `loss ${loss} is not plausible for 10 classes at init`);
  assert.ok(value('classifier.weight grad norm') > 0, 'the classifier got no gradient');
  const { model } = await loadCheckpoint(join(dir, 'shufflenet-example.safetensors'));
  assert.is(model.config.size, '0.5x');
  model.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('README kernel-spec example: the new op matches the host, forward and backward, f32 and f16', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'readme-'));
  const file = join(dir, 'kernel.mts');
  writeFileSync(file, readmeExample('kernel'));
  const { axpbOp } = await import(file) as { axpbOp: (x: Tensor, b: Tensor, alpha: number) => Tensor };
  for (const dtype of ['f32', 'f16'] as const) {
    const x = roundToHalf([0.5, -1.25, 2, 3.5, -0.75]), b = roundToHalf([1, 0.25, -2, 0.5, 1.5]);
    const X = Tensor.from(x, [5], dtype, { requiresGrad: true }), B = Tensor.from(b, [5], dtype, { requiresGrad: true });
    const y = axpbOp(X, B, 1.5);
    // these inputs and 1.5·x + b are exact in f16 too
    assert.equal(Array.from(await y.read()), Array.from(x, (v, i) => 1.5 * v + b[i]), `${dtype} forward`);
    backward(sum(y));
    assert.equal(Array.from(await X.grad!.read()), [1.5, 1.5, 1.5, 1.5, 1.5], `${dtype} dx`);
    assert.equal(Array.from(await B.grad!.read()), [1, 1, 1, 1, 1], `${dtype} db`);
    for (const t of [X, B, y]) t.dispose();
  }
  rmSync(dir, { recursive: true, force: true });
});

test.run();
