// Launch shapes of the kernels whose invocations each compute one independent item (a 16-byte vector
// of an elementwise op, of batch norm's normalize and dx passes): WG invocations per workgroup, each
// taking VPI items grid-stride (items g, g + launched, g + 2·launched, ... for the g-th of `launched`
// invocations), so at every step neighbouring invocations touch neighbouring addresses. Every shape
// computes every item with the same instructions, so all give the same bits: the autotuner may pick
// any of them (kernels/tuning.ts). The default, 256 x 1, is the shape these kernels always had.
import { deviceInfo, grid1d, type Tensor } from '../engine/index.ts';
import { builtins, flatIndex } from './wgsl.ts';
import { choose, scratchRuns, variantHash, type Choice, type Scratch } from './tuning.ts';

export interface LaunchShape { WG: number; VPI: number }

export const DEFAULT_LAUNCH: LaunchShape = { WG: 256, VPI: 1 };
const WGS = [64, 128, 256] as const;
const VPIS = [1, 2, 4] as const;

const isDefault = (s: LaunchShape) => s.WG === DEFAULT_LAUNCH.WG && s.VPI === DEFAULT_LAUNCH.VPI;

/** The variant suffix of a shape: empty for the default (its pipelines keep their names). */
export const launchVariant = (s: LaunchShape): string => (isDefault(s) ? '' : `/wg${s.WG}x${s.VPI}`);

const fits = (wg: number) => {
  const lim = deviceInfo().limits;
  return wg <= lim.maxComputeInvocationsPerWorkgroup && wg <= lim.maxComputeWorkgroupSizeX;
};

/** Every shape this device runs, the default first. */
export function launchCandidates(): LaunchShape[] {
  const all = WGS.flatMap((WG) => VPIS.map((VPI) => ({ WG, VPI }))).filter((s) => fits(s.WG));
  return [DEFAULT_LAUNCH, ...all.filter((s) => !isDefault(s))];
}

/** Whether `c` (from a tuning cache, possibly edited) is a shape this device runs. */
export const validLaunch = (c: Choice): boolean =>
  (WGS as readonly number[]).includes(c.WG!) && (VPIS as readonly number[]).includes(c.VPI!) && fits(c.WG!) && Object.keys(c).length === 2;

/** The grid for `items` items. */
export const launchGrid = (items: number, s: LaunchShape) => grid1d(Math.ceil(items / s.VPI), s.WG);

/**
 * WGSL `main` running `body` once per item index `v` below `items` (a WGSL expression); `body` must not
 * return (it runs in a loop when VPI > 1).
 */
export function launchMain(s: LaunchShape, items: string, body: string): string {
  const head = `@compute @workgroup_size(${s.WG})
fn main(${builtins}) {
  let g = ${flatIndex(s.WG)};`;
  if (s.VPI === 1) return `${head}
  let v = g;
  if (v >= ${items}) { return; }
  ${body}
}`;
  return `${head}
  let launched = nwg.x * nwg.y * ${s.WG}u;
  for (var k = 0u; k < ${s.VPI}u; k++) {
    let v = g + k * launched;
    if (v >= ${items}) { return; }
    ${body}
  }
}`;
}

/** What a kernel says about one of its launch-shape problems (see chooseLaunch). */
export interface LaunchProblem {
  kernel: string;
  shape: string;
  text: string;
  /** The kernel's WGSL at the default shape: a cache entry measured on other WGSL is stale. */
  wgsl: () => string;
  /** Scratch tensors for the tuner's runs (tuning.ts's scratchRuns): inputs zeroed, then outputs; run(s, t) dispatches the problem with shape s. */
  inputs: readonly Scratch[];
  outputs?: readonly Scratch[];
  run: (s: LaunchShape, t: Tensor[]) => void;
}

/** The launch shape for a problem: its tuned one where cached and valid, else the default. */
export function chooseLaunch(p: LaunchProblem): LaunchShape {
  return choose<LaunchShape>({
    kernel: p.kernel, shape: p.shape, text: p.text, def: DEFAULT_LAUNCH, rank: 1,
    candidates: launchCandidates, valid: validLaunch,
    source: () => variantHash(`${p.kernel} ${p.shape}`, p.wgsl),
    open: scratchRuns(p.inputs, p.outputs ?? [], p.run),
  });
}
