// initDevice({ gpu }): the engine on a WebGPU entry point it is handed (what a page's navigator.gpu is
// to it), in a fresh process since a process opens one device. Catches: the option ignored (Dawn's own
// adapter chosen instead), the compatibility fallback of a GPU with no core adapter (Dawn's OpenGL),
// and a backend asked for that such a GPU cannot honour, which must be refused by name.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const entry = resolve('index.web.ts');
function run(code: string, env: Record<string, string | undefined> = {}): { out: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, WG_BACKEND: undefined, EGL_PLATFORM: 'surfaceless', ...env }, // llvmpipe through EGL needs no display
  });
  return { out: `${r.stdout}${r.stderr}`, status: r.status };
}

test('a given GPU object is used, core else compatibility, and the engine computes on it', () => {
  const r = run(`
    import { create } from 'webgpu';
    import { initDevice, describeDevice, Tensor, add } from '${entry}';
    await initDevice({ gpu: create(['backend=opengl']) });   // OpenGL offers compatibility adapters only
    console.log('device:', describeDevice());
    const y = add(Tensor.from([1, 2, 3], [3]), Tensor.from([10, 20, 30], [3]));
    console.log('sum:', Array.from(await y.read()).join(','));
    process.exit(0);`);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /device: .*\[the given GPU, compatibility/);
  assert.match(r.out, /sum: 11,22,33/);
});

test('a backend asked for with a given GPU is refused, naming both', () => {
  const r = run(`
    import { create } from 'webgpu';
    import { initDevice } from '${entry}';
    try { await initDevice({ gpu: create([]), backend: 'vulkan' }); } catch (e) { console.log('error:', e.message); }
    process.exit(0);`);
  assert.match(r.out, /error: backend "vulkan" \(WG_BACKEND or initDevice\(\{ backend \}\)\) chooses among Dawn's backends, but the given GPU picks its own/);
});

test.run();
