// The compile budget every pipeline must keep on every adapter the suite runs on. scripts/run_tests.ts
// checks it over every pipeline the run created (after all test files, see compile_budget_suite.ts), so
// each kernel variant the suite exercises is held to it at no extra cost; tests/engine/compile_budget
// shows the check fails on an over-budget pipeline.
//
// Creation time is where the driver compiles: SwiftShader (where the blowups below were found) compiles
// when the pipeline is created; Mesa's adapters may finish some of the work at the first dispatch, so
// there the check bounds the part done at creation.
// Bounds, on the smaller of each pipeline's wall and CPU time to create: wall time grows when the
// machine is loaded (a pointwise GEMM of 1.1 s of CPU read 42 s on two loaded, shared cores), the
// process's CPU time when GPU work runs meanwhile; a slow compile raises both. The slowest pipelines
// are conv2d_pointwise's wgrad tiles of up to 512 accumulators (its cap): a 20x25 tile takes 3.4 s of
// CPU on SwiftShader and 0.8 s on llvmpipe, from about 64,000 WGSL characters. The blowups this guards
// against grow exponentially (a branch per unrolled load in a loop body: conv2d_direct's wgrad took
// 83 s on SwiftShader, a 4x4 conv2d_depthwise tile over 100 s), so 15 s still catches them.
import type { PipelineCost } from '../../engine/index.ts';

export const MAX_PIPELINE_MS = 15_000;
export const MAX_WGSL_CHARS = 72_000;

/** The pipelines over either budget, each named with what it cost; empty when all are within. */
export function overBudget(costs: ReadonlyMap<string, PipelineCost>): string[] {
  const out: string[] = [];
  for (const [key, c] of costs) {
    const ms = c.cpuMs > 0 ? Math.min(c.ms, c.cpuMs) : c.ms; // no CPU clock (a browser): wall time
    if (ms > MAX_PIPELINE_MS) out.push(`${key}: ${(c.ms / 1000).toFixed(1)} s wall, ${(c.cpuMs / 1000).toFixed(1)} s CPU to create (budget ${MAX_PIPELINE_MS / 1000} s)`);
    if (c.wgslChars > MAX_WGSL_CHARS) out.push(`${key}: ${c.wgslChars} WGSL characters (budget ${MAX_WGSL_CHARS})`);
  }
  return out;
}
