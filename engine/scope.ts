// scope(fn): every tensor created inside fn is disposed when fn returns, except what it returns
// (which then belongs to the enclosing scope). A share() of a tensor is owned by whoever took it.
import type { Tensor } from './tensor.ts';

const stack: Tensor[][] = [];

export const currentScope = (): Tensor[] | undefined => stack.at(-1);

type Kept = Tensor | readonly Tensor[] | Record<string, unknown> | void | undefined | number;

function keptTensors(out: unknown): Set<unknown> {
  if (out === null || typeof out !== 'object') return new Set();
  if (Array.isArray(out)) return new Set(out);
  if ('shape' in out && 'dtype' in out) return new Set([out]);
  return new Set(Object.values(out)); // a record of tensors, e.g. { loss, logits }
}

export function scope<T extends Kept>(fn: () => T): T {
  stack.push([]);
  let out: T | undefined;
  try {
    return (out = fn());
  } finally {
    close(out);
  }
}

/** Async variant: the scope spans the awaited work. Do not interleave two async scopes. */
export async function scopeAsync<T extends Kept>(fn: () => Promise<T>): Promise<T> {
  stack.push([]);
  let out: T | undefined;
  try {
    return (out = await fn());
  } finally {
    close(out);
  }
}

function close(out: unknown): void {
  const kept = keptTensors(out);
  for (const t of stack.pop()!) {
    if (kept.has(t)) currentScope()?.push(t); // a returned tensor now belongs to the enclosing scope
    else t.dispose();
  }
}
