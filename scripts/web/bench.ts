// `npm run bench:web [-- --json FILE --rounds N --iters N --warmup N --filter TEXT]`
// This engine beside TensorFlow.js 4.22's webgpu backend in one headless Chromium page on one adapter
// (scripts/web/bench_app.ts): a whole training step and a forward pass of ShuffleNetV1. Builds the
// bundle (scripts/web/build.ts) and the bench page, serves them, and drives the page with
// playwright-core. Per case: both models built and warmed up, then rounds of timed steps of ours,
// then of TF.js, alternating, so a change of load on this shared machine reaches both; reported:
// the median step of each engine over all rounds, and TF.js / ours. A benchmark, not a test: it exits 1
// when Chromium, WebGPU or TF.js's webgpu backend is missing.
import { existsSync, copyFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Page } from 'playwright-core';
import { programFlags, runMain } from '../../train/flags.ts';
import { writeFileAtomic } from '../../train/checkpoint_io.ts';
import { buildWeb, describeBuild, entryAsBundle } from './build.ts';
import { serveDir } from './serve.ts';
import { CASES, type Engine } from './bench_cases.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const BROWSERS = process.env.CHROMIUM ? [process.env.CHROMIUM] : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

const FLAGS = {
  filter: { type: 'string', default: null, metavar: 'TEXT', help: 'only cases whose name contains TEXT (e.g. "train")' },
  json: { type: 'string', default: null, metavar: 'FILE', help: 'also write the adapter, the environment and the rows here' },
  rounds: { type: 'int', min: 1, default: 3, help: 'alternating rounds (ours, then TF.js) per case' },
  iters: { type: 'int', min: 1, default: 1, help: 'timed steps of each engine per round, times the case\'s own count (training 1, forward 4)' },
  warmup: { type: 'int', min: 2, default: 2, help: 'untimed steps of each engine first (ours: eager, then capture)' },
} as const;

const USAGE = 'Usage: npm run bench:web -- [flags]\n\n' +
  'Times ShuffleNetV1 steps of this engine and of TensorFlow.js (webgpu backend) in headless Chromium.';

interface Row {
  config: string; params: Record<Engine, number>; ours_ms: number; tfjs_ms: number; ratio: number;
  samples: Record<Engine, number[]>; warmup_ms: Record<Engine, number[]>; tfjs_pipelines: [number, number]; load: [number, number];
}

const median = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const load1 = () => Number(loadavg()[0]!.toFixed(2));

/** The bundle and demo (build.ts), plus the bench page whose imports of the entry become the bundle. */
async function buildBench(): Promise<{ dir: string; report: string; bytes: number; gzipBytes: number }> {
  const r = await buildWeb();
  await build({
    entryPoints: [join(HERE, 'bench_app.ts')], outfile: join(r.dir, 'bench.js'), bundle: true, format: 'esm',
    platform: 'browser', target: 'es2022', minify: true, logLevel: 'error', plugins: [entryAsBundle],
  });
  copyFileSync(join(HERE, 'bench.html'), join(r.dir, 'bench.html'));
  return { dir: r.dir, report: describeBuild(r), bytes: r.bytes, gzipBytes: r.gzipBytes };
}

/** A page call; its error's message without playwright's wrapping. */
async function call<T>(page: Page, fn: string, ...args: unknown[]): Promise<T> {
  try {
    return await page.evaluate(`window.bench.${fn}(${args.map((a) => JSON.stringify(a)).join(', ')})`) as T;
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    throw new Error(m.replace(/^page\.evaluate: (Error: )?/, '').split('\n')[0]!);
  }
}

async function main(argv: string[]): Promise<number> {
  const p = programFlags('bench:web', USAGE, FLAGS, argv);
  if (typeof p === 'number') return p;
  const v = p.values;
  const cases = CASES.filter((c) => !v.filter || c.name.includes(v.filter));
  if (!cases.length) { console.error(`bench:web: --filter '${v.filter}' matches no case`); return 2; }
  const executable = BROWSERS.find((b) => existsSync(b));
  if (!executable) {
    console.error(`bench:web: Chromium is not installed (looked for ${BROWSERS.join(', ')}): apt-get install -y chromium, or set CHROMIUM=/path/to/chrome`);
    return 1;
  }
  const built = await buildBench();
  console.log(built.report);
  const served = await serveDir(built.dir);
  const root = process.getuid?.() === 0; // Chromium's sandbox refuses to run as root
  const browser = await chromium.launch({ executablePath: executable, args: ['--enable-unsafe-webgpu', ...(root ? ['--no-sandbox'] : [])] });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${served.url}bench.html`);
    await page.waitForFunction("document.body.dataset.state === 'ready'", null, { timeout: 60_000 });
    const adapter = await call<{ ours: string; tfjs: string; userAgent: string }>(page, 'init').catch((e: Error) => {
      throw new Error(`${e.message} (Chromium ${browser.version()} at ${executable})`);
    });
    const env = { chromium: browser.version(), cpus: cpus().length };
    console.log(`browser: Chromium ${env.chromium} headless, ${env.cpus} CPUs`);
    console.log(`adapter (ours): ${adapter.ours}`);
    console.log(`adapter (TF.js sees): ${adapter.tfjs}`);
    console.log(`steps: ${v.warmup} warm-up each, then ${v.rounds} rounds of timed steps (ours, then TF.js); median of all timed steps`);
    const rows: Row[] = [];
    for (const c of cases) {
      const l0 = load1();
      const { params, warmupMs } = await call<{ params: Record<Engine, number>; warmupMs: Record<Engine, number[]> }>(page, 'prepare', c, v.warmup);
      const p0 = await call<number>(page, 'tfjsPipelines');
      console.log(`${c.name} (${v.iters * c.steps} timed steps per round): parameters ours ${params.ours}, TF.js ${params.tfjs}${params.ours === params.tfjs ? '' : '  (DIFFERENT: the models do not match)'}`);
      const fmtMs = (a: number[]) => a.map((x) => x.toFixed(0)).join(' ');
      console.log(`  warm-up: ours ${fmtMs(warmupMs.ours)} ms, TF.js ${fmtMs(warmupMs.tfjs)} ms (${p0} TF.js pipelines compiled)`);
      const samples: Record<Engine, number[]> = { ours: [], tfjs: [] };
      for (let r = 0; r < v.rounds; r++) {
        for (const e of ['ours', 'tfjs'] as const) samples[e].push(...await call<number[]>(page, 'run', e, v.iters * c.steps));
        console.log(`  round ${r + 1}: ours ${samples.ours.slice(-v.iters * c.steps).map((x) => x.toFixed(0)).join(' ')} ms, TF.js ${samples.tfjs.slice(-v.iters * c.steps).map((x) => x.toFixed(0)).join(' ')} ms (load ${load1()})`);
      }
      const p1 = await call<number>(page, 'tfjsPipelines');
      if (p1 !== p0) console.log(`  note: TF.js compiled ${p1 - p0} more pipelines during the timed steps`);
      await call(page, 'finish');
      const ours = median(samples.ours), tfjs = median(samples.tfjs);
      rows.push({ config: c.name, params, ours_ms: ours, tfjs_ms: tfjs, ratio: tfjs / ours, samples, warmup_ms: warmupMs, tfjs_pipelines: [p0, p1], load: [l0, load1()] });
    }
    const w = Math.max(6, ...rows.map((r) => r.config.length));
    console.log(`\n${'config'.padEnd(w)}  ${'ours ms'.padStart(9)}  ${'TF.js ms'.padStart(9)}  ${'TF.js/ours'.padStart(10)}  load`);
    for (const r of rows) {
      console.log(`${r.config.padEnd(w)}  ${r.ours_ms.toFixed(1).padStart(9)}  ${r.tfjs_ms.toFixed(1).padStart(9)}  ${(r.ratio.toFixed(2) + 'x').padStart(10)}  ${r.load[0]}-${r.load[1]}`);
    }
    if (v.json) {
      const doc = {
        date: new Date().toISOString(), ...env, adapter, tfjs_version: '4.22', bundle: { bytes: built.bytes, gzip_bytes: built.gzipBytes },
        warmup: v.warmup, rounds: v.rounds, iters: v.iters, rows,
      };
      await writeFileAtomic(resolve(v.json), new TextEncoder().encode(JSON.stringify(doc, null, 2) + '\n'));
      console.log(`wrote ${v.json}`);
    }
    return 0;
  } finally {
    await browser.close();
    await served.close();
  }
}

await runMain(main);
