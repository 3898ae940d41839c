// Reverse-mode autograd on a tape (micrograd's loop, with ownership explicit). Nodes are recorded in
// creation order, so walking the tape backwards is a topological order. Every entry of the gradient
// map owns one handle; a node's saved tensors are disposed as soon as its backward has run.
import { OpError } from './errors.ts';
import { withOp } from './launch.ts';
import { fmt, sameShape } from './shape.ts';
import { Tensor } from './tensor.ts';

export interface Node {
  name: string;
  inputs: Tensor[];
  output: Tensor;
  backward(dy: Tensor): (Tensor | null)[];
  release(): void;
}

const tape: Node[] = [];
let sumKernel: ((a: Tensor, b: Tensor) => Tensor) | null = null;

/** The kernel that adds two gradients of one tensor (kernels/elementwise.ts registers `add`). */
export function setGradientSum(add: (a: Tensor, b: Tensor) => Tensor): void {
  sumKernel = add;
}

function addRaw(a: Tensor, b: Tensor): Tensor {
  if (!sumKernel) throw new OpError('backward', 'no gradient-sum kernel registered: import the kernels (the package entry does)');
  return sumKernel(a, b);
}
let noGradDepth = 0;

export const gradEnabled = (): boolean => noGradDepth === 0;

export function record(node: Node): void { tape.push(node); }

/** Nodes currently on the tape (forward ran with grad enabled, backward not yet). */
export const tapeLength = (): number => tape.length;

/** Run fn without recording anything (evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  noGradDepth++;
  try { return fn(); } finally { noGradDepth--; }
}

/** Forget recorded nodes without running backward (e.g. after an aborted step). */
export function clearTape(): void {
  for (const n of tape.splice(0)) n.release();
}

/**
 * Backpropagate from a scalar `loss` (seeded with dLoss = 1, or `seed` if given, e.g. a loss scale)
 * and accumulate into `.grad` of every leaf that requires grad. Empties the tape.
 */
export function backward(loss: Tensor, seed?: number): void {
  if (loss.size !== 1) throw new OpError('backward', `loss must be a scalar, got ${fmt(loss.shape)}`);
  if (!loss.requiresGrad) throw new OpError('backward', 'loss does not require grad: no parameter with requiresGrad reached it');
  const grads = new Map<Tensor, Tensor>([[loss, Tensor.full(loss.shape, seed ?? 1, loss.dtype).own()]]);
  noGrad(() => {
    for (const node of tape.splice(0).reverse()) {
      const dy = grads.get(node.output);
      if (dy) {
        grads.delete(node.output);
        const dxs = withOp(`${node.name}.backward`, () => node.backward(dy));
        dxs.forEach((dx, i) => {
          if (!dx) return;
          const x = node.inputs[i];
          if (!sameShape(dx.shape, x.shape)) throw new OpError(`${node.name}.backward`, `gradient for input ${i} is ${fmt(dx.shape)}, input is ${fmt(x.shape)}`);
          if (x.requiresGrad) accumulate(grads, x, dx);
        });
        dy.dispose();
        for (const dx of dxs) dx?.dispose();
      }
      node.release();
    }
    for (const [t, g] of grads) {
      if (t.isLeaf && t.requiresGrad && !t.isDisposed) addGrad(t, g);
      g.dispose();
    }
  });
}

function accumulate(grads: Map<Tensor, Tensor>, t: Tensor, dx: Tensor): void {
  const prev = grads.get(t);
  grads.set(t, prev ? addRaw(prev, dx).own() : dx.share());
  prev?.dispose();
}

/** Add g into t.grad (the leaf keeps its own handle). */
function addGrad(t: Tensor, g: Tensor): void {
  if (!t.grad) { t.grad = g.share(); return; }
  const sum = addRaw(t.grad, g).own();
  t.grad.dispose();
  t.grad = sum;
}
