// The README's embedding example, run as written (only the package name is mapped to the entry file),
// so the documented API cannot drift from the real one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import '../util/gpu.ts';
import { loadCheckpoint } from '../../model/checkpoint.ts';

function readmeExample(): string {
  const readme = readFileSync('README.md', 'utf8');
  const m = /<!-- example:embed -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README.md has no `<!-- example:embed -->` ts block');
  return m[1].replace(/from 'shufflenet-webgpu'/g, `from '${resolve('index.ts')}'`);
}

test('README example runs: load, eval, train forward, loss, backward, step, save, read back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'readme-'));
  const file = join(dir, 'example.mts');
  writeFileSync(file, readmeExample());
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

test.run();
