// The PyTorch twin's fixtures (scripts/torch_twin/README.md): config from the metadata, `param.*` as a
// state dict, and every other tensor by name as float64-able host arrays.
import { type StTensor } from '../../model/safetensors.ts';
import { configFromMetadata } from '../../model/checkpoint.ts';
import { readSafetensorsFile } from '../../train/checkpoint_io.ts';
import type { ModelConfig } from '../../model/architecture.ts';
import type { HostTensor } from '../../model/module.ts';
import type { ShuffleNetV1 } from '../../model/shufflenet.ts';
import { Rng } from '../../engine/index.ts';

export interface Fixture {
  config: ModelConfig;
  metadata: Record<string, string>;
  /** `param.*` with the prefix removed: initial parameters and BN statistics. */
  params: Map<string, HostTensor>;
  /** Names (prefix removed) of the tensors under `prefix`, sorted. */
  names(prefix: string): string[];
  get(name: string): { shape: number[]; data: Float64Array };
}

const numbers = (t: StTensor): Float64Array =>
  t.dtype === 'I64' ? Float64Array.from(t.data, Number) : t.dtype === 'F32' || t.dtype === 'F64' ? Float64Array.from(t.data) : (() => { throw new Error(`fixture dtype ${t.dtype}`); })();

export async function readCheckpointTensors(path: string): Promise<Fixture> {
  const f = await readSafetensorsFile(path);
  const t = f.tensors;
  const names = (prefix: string) => Object.keys(t).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)).sort();
  return {
    config: configFromMetadata(f.metadata, path),
    metadata: f.metadata,
    params: new Map(names('param.').map((k) => [k, { shape: t[`param.${k}`].shape, data: t[`param.${k}`].data as Float32Array }])),
    names,
    get(name) {
      if (!(name in t)) throw new Error(`${path}: no tensor '${name}'`);
      return { shape: t[name].shape, data: numbers(t[name]) };
    },
  };
}

/** Non-trivial BN affine and statistics everywhere (as the PyTorch fixtures draw them), so folding has something to fold. */
export function randomBn(m: ShuffleNetV1, seed: number): void {
  const rng = new Rng(seed);
  for (const [k, t] of m.stateDict()) {
    if (k.endsWith('running_mean')) t.write(rng.normals(t.size, 0.1));
    else if (k.endsWith('running_var')) t.write(rng.uniforms(t.size, 0.5, 1.5));
    else if (t.shape.length === 1 && k.endsWith('.weight')) t.write(rng.uniforms(t.size, 0.5, 1.5));
    else if (t.shape.length === 1 && !k.startsWith('classifier')) t.write(rng.uniforms(t.size, -0.2, 0.2));
  }
}
