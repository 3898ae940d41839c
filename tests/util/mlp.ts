// The test MLP: 2 -> H -> 1 with ReLU, squared error, SGD momentum. Used by the engine's end-to-end
// tests (learning, pool stability, step replay) and by scripts/bench_step.ts.
import { Tensor, Rng, backward, scope } from '../../engine/index.ts';
import { add, mul, relu, scale } from '../../kernels/elementwise.ts';
import { mean } from '../../kernels/reduce.ts';
import { linear } from '../../kernels/matmul.ts';
import { Sgd } from '../../train/sgd.ts';

export class Mlp {
  readonly params: Tensor[];
  readonly opt: Sgd;
  constructor(readonly hidden: number, seed: number) {
    const rng = new Rng(seed);
    const init = (n: number, k: number) => Array.from({ length: n }, () => rng.uniform(-k, k));
    const p = (data: number[], shape: number[]) => Tensor.from(data, shape, 'f32', { requiresGrad: true });
    this.params = [p(init(hidden * 2, 1), [hidden, 2]), p(init(hidden, 0.1), [hidden]), p(init(hidden, 1 / Math.sqrt(hidden)), [1, hidden]), p([0], [1])];
    this.opt = new Sgd(this.params.map((tensor) => ({ tensor, decay: true })));
  }

  /** One training step on (x [N, 2], t [N, 1]); returns the loss tensor [1]. */
  step(x: Tensor, t: Tensor, hyper: Tensor): Tensor {
    return scope(() => {
      const [w1, b1, w2, b2] = this.params;
      const y = linear(relu(linear(x, w1, b1)), w2, b2);
      const d = add(y, scale(t, -1));
      const loss = mean(mul(d, d));
      backward(loss);
      this.opt.step(hyper);
      this.opt.zeroGrad();
      return loss;
    });
  }

  dispose(): void {
    this.opt.dispose();
    for (const p of this.params) p.dispose();
  }
}

/** XOR-like batch: label = sign(x0·x1), points uniform in [-1, 1]². */
export function xorBatch(rng: Rng, n: number): { x: Float32Array; t: Float32Array } {
  const x = new Float32Array(2 * n), t = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[2 * i] = rng.uniform(-1, 1);
    x[2 * i + 1] = rng.uniform(-1, 1);
    t[i] = x[2 * i] * x[2 * i + 1] > 0 ? 1 : -1;
  }
  return { x, t };
}
