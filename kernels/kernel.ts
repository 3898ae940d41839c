// Kernel specs: a kernel declares its uniforms and storage buffers once, and the WGSL prelude (the
// uniform struct, the binding declarations and typed accessors) is generated from the same list the
// launcher binds from, so binding numbers are never written by hand and a body is written once for
// every storage mode of f16:
//   f32             array<f32 | vec2f | vec4f>
//   packed halves   array<u32 | vec2u>, two halves per word, unpack2x16float/pack2x16float (any device)
//   native f16      array<f16 | vec2h | vec4h> with `enable f16;` (devices with shader-f16)
// Accessors take element (or vector) indices and deal in f32 values, whatever the storage:
//   ld_x(i) -> f32 | vecNf              a vec-N buffer is indexed in whole vectors
//   st_x(i, v)                          f32 buffers, and f16 buffers of vec 2 or 4
//   st2_x(p, v: vec2f)                  vec-1 float buffers: elements 2p and 2p + 1 together. A packed
//                                       half shares its word with its neighbour, so single-element
//                                       stores would race; writers of vec-1 f16 store pairs.
// f16 buffers also take vec 8 (16 bytes, one vec4u of packed halves): ld_x/st_x deal in mat2x4f,
// column 0 = elements 0..3, column 1 = elements 4..7.
//   round_x(v) -> v as stored           float buffers: v rounded as a store to x rounds it (f32: v
//                                       itself; f16: to a half), e.g. to compare with what a kernel
//                                       stored; for vec 8 it takes one vec4f column
// `T_x` is the WGSL type ld_x returns. Integer buffers (u32, i32) give ld_/st_ on their own type;
// `u16` is integers packed two to a word in every mode, laid out and accessed like packed halves
// (ld_x -> u32 | vecNu, vec 8 as array<vec4u, 2>; stored values must fit 16 bits);
// `u8` is bytes packed four to a word (read-only, ld_x(i) -> u32); `atomic` is array<atomic<u32>>,
// used directly. Binding 0 is the uniform struct `u`; buffers follow from 1 in declaration order.
import { OpError, launch, deviceInfo, uniforms as uniformLayout, type Binding, type DType, type Kernel, type Uniforms, type UniformType } from '../engine/index.ts';

export type BufferType = DType | 'u32' | 'i32' | 'u16' | 'u8' | 'atomic';
export type Vec = 1 | 2 | 4 | 8;

export interface BufferDecl {
  readonly name: string;
  readonly type: BufferType;
  readonly access: 'read' | 'read_write';
  readonly vec: Vec;
}

/** A buffer the kernel reads: `type` per element, `vec` elements per access. */
export const input = (name: string, type: BufferType, vec: Vec = 1): BufferDecl => ({ name, type, access: 'read', vec });
/** A buffer the kernel writes (and may read). */
export const output = (name: string, type: BufferType, vec: Vec = 1): BufferDecl => ({ name, type, access: 'read_write', vec });

export type UniformFields = Record<string, UniformType>;

/** How f16 tensors are stored in WGSL. Both hold the same bytes, so tensors never depend on it. */
export type F16Storage = 'packed' | 'native';

let f16Override: F16Storage | null = null;

/**
 * The f16 storage mode kernels are generated for: native where the device has shader-f16, else packed
 * halves; WG_F16=packed forces packed halves (e.g. to compare the two on one device).
 */
export function f16Storage(): F16Storage {
  if (f16Override) return f16Override;
  if ((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.WG_F16 === 'packed') return 'packed';
  return deviceInfo().shaderF16 ? 'native' : 'packed';
}

/** Force a storage mode (tests run both where the device has shader-f16); null restores the default. */
export function setF16Storage(mode: F16Storage | null): void {
  if (mode === 'native' && !deviceInfo().shaderF16) {
    throw new OpError('setF16Storage', 'native f16 needs a device with shader-f16; this adapter has none (packed halves work everywhere)');
  }
  f16Override = mode;
}

let subgroupsOverride: boolean | null = null;

/**
 * Whether kernels may use subgroup operations: where the device has them, unless switched off
 * (WG_SUBGROUPS=off, e.g. to compare the two paths on one device, or setSubgroups(false)).
 */
export function subgroupsEnabled(): boolean {
  if (subgroupsOverride !== null) return subgroupsOverride;
  if ((globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.WG_SUBGROUPS === 'off') return false;
  return deviceInfo().subgroups;
}

/** Switch subgroup variants off (tests cover both paths on a device that has them); null restores. */
export function setSubgroups(on: boolean | null): void {
  if (on && !deviceInfo().subgroups) throw new OpError('setSubgroups', "this adapter has no 'subgroups' feature");
  subgroupsOverride = on;
}

export interface KernelSpec<S> {
  /** Names the kernel (pipeline labels, errors, profiles): `file.kernel`. */
  name: string;
  /** The variant a spec selects, appended to the name as the pipeline cache key. */
  variant: (spec: S) => string;
  uniforms?: UniformFields | ((spec: S) => UniformFields);
  buffers: (spec: S) => readonly BufferDecl[];
  /** WGSL after the generated prelude: helpers, workgroup variables and `main`. */
  body: (spec: S) => string;
  /** Whether this spec's body uses subgroup builtins (`enable subgroups;` and `requires subgroup_id;` are added). */
  subgroups?: (spec: S) => boolean;
}

export interface Dispatch {
  uniforms?: Record<string, number>;
  /** One tensor (or byte range) per declared buffer, by name. */
  buffers: Record<string, Binding>;
  grid: readonly [number, number, number];
}

export interface DefinedKernel<S> {
  readonly name: string;
  run(spec: S, d: Dispatch): void;
  /** The whole WGSL for a spec under the current f16 storage mode (tests, debugging). */
  wgsl(spec: S): string;
}

const SCALAR: Record<Exclude<BufferType, 'f16' | 'u16' | 'u8' | 'atomic'>, string> = { f32: 'f32', u32: 'u32', i32: 'i32' };
const vecOf = (scalar: string, vec: Vec) => (vec === 1 ? scalar : `vec${vec}<${scalar}>`);
const f32Vec = (vec: Vec) => vecOf('f32', vec);

/** Body of round_x for an f16 buffer: the store's conversion to a half and back (vec 8: one vec4f column). */
const packedRound = (vec: Vec) => (vec === 1 ? 'return unpack2x16float(pack2x16float(vec2f(v, 0.0))).x;'
  : vec === 2 ? 'return unpack2x16float(pack2x16float(v));'
  : 'return vec4f(unpack2x16float(pack2x16float(v.xy)), unpack2x16float(pack2x16float(v.zw)));');

/** WGSL declaration and accessors of one buffer at `binding`. */
export function bufferWgsl(b: BufferDecl, binding: number, mode: F16Storage): string {
  const { name: n, vec } = b;
  const writes = b.access === 'read_write';
  if (vec === 8 && b.type !== 'f16' && b.type !== 'u16') throw new OpError('defineKernel', `buffer ${n}: vec 8 is for 16-bit buffers (f16, u16: 16 bytes of packed pairs)`);
  const decl = (elem: string) => `@group(0) @binding(${binding}) var<storage, ${b.access}> ${n}: array<${elem}>;`;
  const fns = (lines: (string | false)[]) => lines.filter(Boolean).join('\n');
  switch (b.type) {
    case 'atomic':
      return decl('atomic<u32>');
    case 'u8':
      if (writes || vec !== 1) throw new OpError('defineKernel', `buffer ${n}: u8 buffers are read-only and scalar`);
      return fns([decl('u32'), `fn ld_${n}(i: u32) -> u32 { return (${n}[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu; }`]);
    case 'f16': {
      const T = vec === 8 ? 'mat2x4f' : f32Vec(vec);
      if (mode === 'native') {
        const H = vec === 8 ? 'mat2x4h' : vecOf('f16', vec);
        return fns([
          decl(H),
          `alias T_${n} = ${T};`,
          `fn ld_${n}(i: u32) -> ${T} { return ${T}(${n}[i]); }`,
          writes && vec > 1 && `fn st_${n}(i: u32, v: ${T}) { ${n}[i] = ${H}(v); }`,
          writes && vec === 1 && `fn st2_${n}(p: u32, v: vec2f) { ${n}[2u * p] = f16(v.x); ${n}[2u * p + 1u] = f16(v.y); }`,
          // through pack2x16float, not f32(f16(v)): a compiler may fold that round trip away (lavapipe does)
          `fn round_${n}(v: ${vec === 8 ? 'vec4f' : T}) -> ${vec === 8 ? 'vec4f' : T} { ${packedRound(vec)} }`,
        ]);
      }
      const word = vec === 8 ? 'vec4u' : vec === 4 ? 'vec2u' : 'u32';
      // vec 1: the half shifted down to the low bits, not both unpacked and one selected: ~10% faster f16 matmuls and pointwise GEMMs on llvmpipe
      const load = vec === 1 ? `return unpack2x16float(${n}[i >> 1u] >> ((i & 1u) << 4u)).x;`
        : vec === 2 ? `return unpack2x16float(${n}[i]);`
        : vec === 8 ? `let w = ${n}[i]; return mat2x4f(vec4f(unpack2x16float(w.x), unpack2x16float(w.y)), vec4f(unpack2x16float(w.z), unpack2x16float(w.w)));`
        : `let w = ${n}[i]; return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));`;
      const store = vec === 2 ? `${n}[i] = pack2x16float(v);`
        : vec === 8 ? `${n}[i] = vec4u(pack2x16float(v[0].xy), pack2x16float(v[0].zw), pack2x16float(v[1].xy), pack2x16float(v[1].zw));`
        : `${n}[i] = vec2u(pack2x16float(v.xy), pack2x16float(v.zw));`;
      return fns([
        decl(word),
        `alias T_${n} = ${T};`,
        `fn ld_${n}(i: u32) -> ${T} { ${load} }`,
        writes && vec > 1 && `fn st_${n}(i: u32, v: ${T}) { ${store} }`,
        writes && vec === 1 && `fn st2_${n}(p: u32, v: vec2f) { ${n}[p] = pack2x16float(v); }`,
        `fn round_${n}(v: ${vec === 8 ? 'vec4f' : T}) -> ${vec === 8 ? 'vec4f' : T} { ${packedRound(vec)} }`,
      ]);
    }
    case 'u16': {
      // f16's packed layout with integer halves: element 2k is the low 16 bits of word k
      const T = vec === 8 ? 'array<vec4u, 2>' : vecOf('u32', vec);
      const word = vec === 8 ? 'vec4u' : vec === 4 ? 'vec2u' : 'u32';
      const two = (w: string) => `vec2u(${w} & 0xffffu, ${w} >> 16u)`;
      const join = (v: string) => `${v}.x | (${v}.y << 16u)`;
      const load = vec === 1 ? `return (${n}[i >> 1u] >> ((i & 1u) << 4u)) & 0xffffu;`
        : vec === 2 ? `let w = ${n}[i]; return ${two('w')};`
        : vec === 8 ? `let w = ${n}[i]; return ${T}(vec4u(${two('w.x')}, ${two('w.y')}), vec4u(${two('w.z')}, ${two('w.w')}));`
        : `let w = ${n}[i]; return vec4u(${two('w.x')}, ${two('w.y')});`;
      const store = vec === 2 ? `${n}[i] = ${join('v')};`
        : vec === 8 ? `${n}[i] = vec4u(${join('v[0].xy')}, ${join('v[0].zw')}, ${join('v[1].xy')}, ${join('v[1].zw')});`
        : `${n}[i] = vec2u(${join('v.xy')}, ${join('v.zw')});`;
      return fns([
        decl(word),
        `alias T_${n} = ${T};`,
        `fn ld_${n}(i: u32) -> ${T} { ${load} }`,
        writes && vec > 1 && `fn st_${n}(i: u32, v: ${T}) { ${store} }`,
        writes && vec === 1 && `fn st2_${n}(p: u32, v: vec2u) { ${n}[p] = ${join('v')}; }`,
      ]);
    }
    default: {
      const T = vecOf(SCALAR[b.type], vec);
      return fns([
        decl(T),
        `alias T_${n} = ${T};`,
        `fn ld_${n}(i: u32) -> ${T} { return ${n}[i]; }`,
        writes && `fn st_${n}(i: u32, v: ${T}) { ${n}[i] = v; }`,
        writes && b.type === 'f32' && vec === 1 && `fn st2_${n}(p: u32, v: vec2f) { ${n}[2u * p] = v.x; ${n}[2u * p + 1u] = v.y; }`,
        b.type === 'f32' && `fn round_${n}(v: ${T}) -> ${T} { return v; }`,
      ]);
    }
  }
}

/** A kernel from its spec: generated prelude + body, bound by name. */
export function defineKernel<S>(k: KernelSpec<S>): DefinedKernel<S> {
  const layouts = new Map<string, Uniforms<UniformFields>>();
  const layoutOf = (spec: S): Uniforms<UniformFields> | null => {
    const fields = typeof k.uniforms === 'function' ? k.uniforms(spec) : k.uniforms;
    if (!fields || !Object.keys(fields).length) return null;
    const id = Object.entries(fields).join();
    let l = layouts.get(id);
    if (!l) layouts.set(id, (l = uniformLayout(fields)));
    return l;
  };
  const hasF16 = (spec: S) => k.buffers(spec).some((b) => b.type === 'f16');
  const wgsl = (spec: S): string => {
    const mode = f16Storage();
    const layout = layoutOf(spec);
    return [
      mode === 'native' && hasF16(spec) ? 'enable f16;' : '',
      k.subgroups?.(spec) ? 'enable subgroups;\nrequires subgroup_id;' : '',
      layout ? `${layout.wgsl}\n@group(0) @binding(0) var<uniform> u: U;` : '',
      ...k.buffers(spec).map((b, i) => bufferWgsl(b, i + 1, mode)),
      k.body(spec),
    ].join('\n');
  };
  const kernel: Kernel<S> = {
    bindings: (spec) => ({ uniforms: !!layoutOf(spec), storage: k.buffers(spec).map((b) => b.access) }),
    key: (spec) => `${k.name}/${k.variant(spec)}${hasF16(spec) && f16Storage() === 'native' ? '/h' : ''}`,
    wgsl,
  };
  return {
    name: k.name,
    wgsl,
    run(spec, d) {
      const decls = k.buffers(spec);
      const given = Object.keys(d.buffers);
      const unknown = given.filter((g) => !decls.some((b) => b.name === g));
      if (unknown.length) throw new OpError(k.name, `no buffer named ${unknown.join(', ')} (declared: ${decls.map((b) => b.name).join(', ')})`);
      const buffers = decls.map((b) => {
        const t = d.buffers[b.name];
        if (!t) throw new OpError(k.name, `buffer ${b.name} was not given`);
        const dtype = 'tensor' in t ? t.tensor.dtype : t.dtype;
        if ((b.type === 'f32' || b.type === 'f16') && dtype !== b.type) throw new OpError(k.name, `buffer ${b.name} is declared ${b.type} but got a ${dtype} tensor`);
        return t;
      });
      const layout = layoutOf(spec);
      if (layout && !d.uniforms) throw new OpError(k.name, 'uniforms were not given');
      launch(kernel, spec, { uniforms: layout ? layout.pack(d.uniforms!, k.name) : undefined, buffers, grid: d.grid });
    },
  };
}
