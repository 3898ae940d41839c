// Seeded parameter initialisation on the host (float32 arrays, uploaded by the layers).
// Fans follow torch.nn.init._calculate_fan_in_and_fan_out, which MindSpore's initializers share: from
// the weight's own shape [out, in/groups, kh, kw], fan_in = in/groups·kh·kw and fan_out = out·kh·kw.
// So a grouped conv's fan_in is per group while its fan_out is not (a depthwise 3x3 over C channels:
// fan_in 9, fan_out 9C).
import { Rng, type Shape } from '../engine/index.ts';

export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`fans: need a weight of rank >= 2, got [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

export function uniform(n: number, bound: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

/** Glorot/Xavier uniform: U(±sqrt(6 / (fan_in + fan_out))), the seed's conv init. */
export function xavierUniform(shape: Shape, rng: Rng): Float32Array {
  const { fanIn, fanOut } = fans(shape);
  return uniform(shape.reduce((a, b) => a * b, 1), Math.sqrt(6 / (fanIn + fanOut)), rng);
}

/**
 * torch.nn.Linear's default (kaiming_uniform with a = sqrt(5), i.e. U(±1/sqrt(in)), bias U(±1/sqrt(in))),
 * which is also MindSpore >= 2.1's nn.Dense default (HeUniform(sqrt(5)) weight, Uniform bias). MindSpore
 * <= 2.0 defaulted to N(0, 0.01²) weights and zero bias; we follow the current default.
 */
export function linearDefault(outF: number, inF: number, rng: Rng): { w: Float32Array; b: Float32Array } {
  const bound = 1 / Math.sqrt(inF);
  return { w: uniform(outF * inF, bound, rng), b: uniform(outF, bound, rng) };
}
