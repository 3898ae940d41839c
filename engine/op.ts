// defineOp(): an op's argument check, forward kernels and backward rule in one place.
// check runs before any GPU work; forward returns the output and what backward needs (`saved`, whose
// tensors the node holds until its backward has run); backward returns one gradient per tensor
// argument, null where `needs` says it is not wanted; autograd owns (and disposes) what it returns.
import { gradEnabled, record } from './autograd.ts';
import { expect, OpError, type Expect } from './errors.ts';
import { withOp } from './launch.ts';
import { Tensor } from './tensor.ts';

export interface OpDef<A extends unknown[], S> {
  check?: (e: Expect, ...args: A) => void;
  forward: (...args: A) => { y: Tensor; saved: S };
  backward: (dy: Tensor, saved: S, needs: boolean[]) => (Tensor | null)[];
}

export function defineOp<A extends unknown[], S extends Record<string, unknown>>(name: string, def: OpDef<A, S>): (...args: A) => Tensor {
  const e = expect(name);
  return (...args: A): Tensor => {
    const inputs = args.filter((a): a is Tensor => a instanceof Tensor);
    inputs.forEach((t) => { if (t.isDisposed) throw new OpError(name, `${t} was disposed before use`); });
    def.check?.(e, ...args);
    const track = gradEnabled() && inputs.some((t) => t.requiresGrad);
    const { y, saved } = withOp(name, () => def.forward(...args));
    const kept = track ? keep(saved) : null;
    // tensors forward made only to save them are the op's to free (the node keeps its own handles)
    for (const v of Object.values(saved)) if (v instanceof Tensor && v !== y && !inputs.includes(v)) v.dispose();
    if (!kept) return y;
    const needs = inputs.map((t) => t.requiresGrad);
    y.requiresGrad = true;
    y.isLeaf = false;
    record({
      name,
      inputs,
      output: y,
      backward: (dy) => def.backward(dy, kept, needs),
      release: () => { for (const v of Object.values(kept)) if (v instanceof Tensor) v.dispose(); },
    });
    return y;
  };
}

/** The node's own handles on saved tensors, so they outlive the caller's dispose() or scope. */
function keep<S extends Record<string, unknown>>(saved: S): S {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(saved)) out[k] = v instanceof Tensor ? v.share() : v;
  return out as S;
}
