// Finite-difference gradients of float64 functions, to check the references' backward rules.
import { expectClose } from './check.ts';

/** Central differences of scalar f at x (x is restored). */
export function numericGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    x[i] = xi + h; const up = f(x);
    x[i] = xi - h; const down = f(x);
    x[i] = xi;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Assert an analytic gradient matches central differences of f (float64: tight bound). */
export function gradcheck(f: (x: Float64Array) => number, x: Float64Array, analytic: ArrayLike<number>, what: string, bound = 1e-6): void {
  expectClose(analytic, numericGrad(f, x), bound, `${what} vs finite differences`);
}
