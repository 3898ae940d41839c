// Shape arithmetic shared by ops, models and tests.
export type Shape = readonly number[];

export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

export const fmt = (shape: readonly (number | string)[]): string => `[${shape.join(', ')}]`;

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Row-major strides of a contiguous tensor. */
export function strides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

/** Output size of a convolution or pool window with explicit padding. */
export const convOut = (inSize: number, k: number, stride: number, padBefore: number, padAfter = padBefore): number =>
  Math.floor((inSize + padBefore + padAfter - k) / stride) + 1;

/**
 * MindSpore's pad_mode='same' for a window k, stride s: out = ceil(in / s), total padding
 * max((out - 1) * s + k - in, 0), the smaller half before (top/left).
 */
export function samePadding(inSize: number, k: number, s: number): { out: number; before: number; after: number } {
  const out = Math.ceil(inSize / s);
  const total = Math.max((out - 1) * s + k - inSize, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}
