// A kernel's uniforms from one field list: the WGSL struct text and a packer that agree by construction.
// Only 4-byte scalars, in declaration order, padded to 16 bytes (no vec3 alignment traps).
import { OpError } from './errors.ts';

export type UniformType = 'u32' | 'i32' | 'f32';

export interface Uniforms<F extends Record<string, UniformType>> {
  wgsl: string;
  /** The struct's bytes; `owner` names the kernel in errors. */
  pack(values: { [K in keyof F]: number }, owner?: string): ArrayBuffer;
}

export function uniforms<F extends Record<string, UniformType>>(fields: F): Uniforms<F> {
  const names = Object.keys(fields) as (keyof F & string)[];
  const bytes = Math.max(16, Math.ceil(names.length / 4) * 16);
  return {
    wgsl: `struct U { ${names.map((n) => `${n}: ${fields[n]}`).join(', ')} }`,
    pack(values, owner = 'uniforms') {
      const dv = new DataView(new ArrayBuffer(bytes));
      names.forEach((n, i) => {
        const v = values[n];
        if (typeof v !== 'number' || Number.isNaN(v) && fields[n] !== 'f32') throw new OpError(owner, `uniform ${n} is ${v}: every declared uniform needs a number`);
        if (fields[n] === 'u32') dv.setUint32(4 * i, v, true);
        else if (fields[n] === 'i32') dv.setInt32(4 * i, v, true);
        else dv.setFloat32(4 * i, v, true);
      });
      return dv.buffer;
    },
  };
}
