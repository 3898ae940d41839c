// `npm run build:web`: the browser build, into dist-web/ (git-ignored):
//   shufflenet-webgpu.js   index.web.ts as one self-contained ES module (the package's "./web" export)
//   index.html, demo.js, fashion_mnist_64.bin   the demo page (scripts/web/), which imports the bundle
//                          above as any embedder would, not a copy of the engine
// A Node-only import reaching the bundle fails the build (platform 'browser' cannot resolve node:*);
// Dawn's `webgpu`, imported by engine/device.ts only where there is no navigator.gpu, stays external.
import { build, type Plugin } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const OUT_DIR = join(ROOT, 'dist-web');
export const BUNDLE = 'shufflenet-webgpu.js';

export interface BuildResult { dir: string; bundle: string; bytes: number; gzipBytes: number }

// the page's imports of the browser entry become imports of the built bundle
export const entryAsBundle: Plugin = {
  name: 'entry-as-bundle',
  setup(b) {
    b.onResolve({ filter: /index\.web\.ts$/ }, () => ({ path: `./${BUNDLE}`, external: true }));
  },
};

/** Build the bundle and the demo page into `dir`; returns the bundle's size. */
export async function buildWeb(dir = OUT_DIR): Promise<BuildResult> {
  mkdirSync(dir, { recursive: true });
  const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'error' } as const;
  const bundle = join(dir, BUNDLE);
  await build({ ...common, entryPoints: [join(ROOT, 'index.web.ts')], outfile: bundle, minify: true, sourcemap: 'linked', external: ['webgpu'] });
  await build({ ...common, entryPoints: [join(ROOT, 'scripts/web/app.ts')], outfile: join(dir, 'demo.js'), plugins: [entryAsBundle] });
  for (const f of ['index.html', 'fashion_mnist_64.bin']) copyFileSync(join(ROOT, 'scripts/web', f), join(dir, f));
  const bytes = readFileSync(bundle);
  return { dir, bundle, bytes: bytes.length, gzipBytes: gzipSync(bytes).length };
}

export const describeBuild = (r: BuildResult): string =>
  `${relative(process.cwd(), r.bundle)}: ${(r.bytes / 1024).toFixed(0)} KiB (${(r.gzipBytes / 1024).toFixed(0)} KiB gzipped); demo page in ${relative(process.cwd(), r.dir) || '.'}/`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(describeBuild(await buildWeb()));
}
