// The end of an epoch: the test-set evaluation (every --eval-every epochs and after the last), the
// seed's summary line, the epoch's metrics line, the redrawn plot and the epoch's checkpoint.
import { evaluate } from './evaluate.ts';
import { plotTraining, type EpochRecord } from './pictures/plot.ts';
import { lrAt } from './schedule.ts';
import { decodeStats } from './step_metrics.ts';
import { saveSession } from './resume.ts';
import { duration, percent } from './format.ts';
import type { Batch, Session } from './session.ts';

/** Close epoch `e` (1-based), whose last step has just run; `pending` is the next step's batch, if drawn. */
export async function endEpoch(s: Session, e: number, pending: Batch | null): Promise<void> {
  const { cfg, S } = s;
  const m = decodeStats(s.epochStats);
  const seconds = (performance.now() - s.epochStart) / 1000;
  const rec: EpochRecord = { epoch: e, trainLoss: m.loss, trainAcc: m.top1 };
  let testText = '';
  if (s.testSet && cfg.evalEvery > 0 && (e % cfg.evalEvery === 0 || e === cfg.epochs)) {
    const r = await evaluate(s.model, s.testSet, { batchSize: Math.min(s.N, 256), imageSize: cfg.imageSize, dtype: s.dtype, smoothing: cfg.labelSmoothing });
    rec.testLoss = r.loss;
    rec.testAcc = r.top1;
    testText = `, test loss ${r.loss.toFixed(4)} top-1 ${percent(r.top1)} top-5 ${percent(r.top5)} (${r.seconds.toFixed(1)} s)`;
    s.writeMetrics({ event: 'eval', epoch: e, step: s.step, loss: r.loss, top1: r.top1, top5: r.top5, seconds: r.seconds });
  }
  s.history.push(rec);
  // the seed's LossMonitor/TimeMonitor line, plus accuracy
  s.log(`epoch: ${e} step: ${S}, loss is ${m.loss.toFixed(6)}, train top-1 ${percent(m.top1)}${testText}; ` +
    `epoch time ${duration(seconds)}, per step time ${((seconds * 1000) / S).toFixed(1)} ms`);
  s.writeMetrics({ event: 'epoch', epoch: e, step: s.step, trainLoss: m.loss, trainTop1: m.top1, trainTop5: m.top5, testLoss: rec.testLoss, testTop1: rec.testAcc, seconds, lr: lrAt(s.step - 1, s.schedule) });
  plotTraining(s.history, s.files.plot, { title: `ShuffleNetV1 ${cfg.modelSize} g=${cfg.group} on ${cfg.dataset}` });
  s.epochStats.fill(0);
  s.epochStart = performance.now();
  await saveSession(s, pending, e, S);
}
