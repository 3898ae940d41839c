// A one-line terminal progress bar: label, bar, done/total, extra text (loss, lr, img/s), rate and
// ETA. On a TTY it redraws its line in place; otherwise (a log file, CI) it prints a line only at
// each further tenth of the total and at the end, so logs stay short.
import { duration } from '../format.ts';

export interface ProgressOptions {
  label: string;
  total: number;
  /** 'bytes' shows sizes in MB and a MB/s rate; anything else is a plain count. */
  unit?: 'bytes' | 'items';
  /** Where to draw (default process.stderr, so stdout keeps only results). */
  stream?: NodeJS.WriteStream;
}

export interface ProgressBar {
  /**
   * Report `done` of total; `extra` replaces the extra text shown after the counts. `etaSeconds`, when
   * given, is shown as the ETA instead of the bar's own (elapsed per item since the bar began); NaN shows '?', 0 none.
   */
  update(done: number, extra?: string, etaSeconds?: number): void;
  /** Draw the final state and end the line; later calls do nothing. */
  done(): void;
}

const BAR_WIDTH = 24;
const MB = 1024 * 1024;

export function progressBar(o: ProgressOptions): ProgressBar {
  const stream = o.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const bytes = o.unit === 'bytes';
  const start = performance.now();
  let current = 0, extra = '', finished = false, drawn = false;
  let eta: number | undefined;
  let lastTenth = -1;

  const count = (n: number) => (bytes ? (n / MB).toFixed(1) : String(n));
  const line = (final: boolean): string => {
    const total = Math.max(0, o.total), frac = total > 0 ? Math.min(1, current / total) : 0;
    const filled = Math.round(frac * BAR_WIDTH);
    const seconds = (performance.now() - start) / 1000;
    const parts = [o.label, `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`,
      `${count(current)}/${count(total)}${bytes ? ' MB' : ''}`, `${(100 * frac).toFixed(0).padStart(3)}%`];
    if (extra) parts.push(extra);
    if (bytes && seconds > 0 && current > 0) parts.push(`${(current / MB / seconds).toFixed(1)} MB/s`);
    if (final) parts.push(`in ${duration(seconds)}`);
    else if (eta !== undefined) { if (eta !== 0) parts.push(`ETA ${duration(eta)}`); }
    else if (current > 0 && current < total) parts.push(`ETA ${duration((seconds / current) * (total - current))}`);
    return parts.join(' ');
  };
  const draw = (final: boolean) => {
    let text = line(final);
    if (tty) {
      const cols = stream.columns || 120;
      if (text.length >= cols) text = text.slice(0, cols - 1);
      stream.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    } else {
      stream.write(text + '\n');
    }
    drawn = true;
  };

  return {
    update(done: number, text?: string, etaSeconds?: number) {
      if (finished) return;
      current = done;
      if (text !== undefined) extra = text;
      eta = etaSeconds;
      if (tty) { draw(false); return; }
      const tenth = o.total > 0 ? Math.floor((10 * done) / o.total) : 0;
      if (tenth > lastTenth && done < o.total) { lastTenth = tenth; draw(false); }
    },
    done() {
      if (finished) return;
      finished = true;
      // a bar that never moved leaves no line
      if (drawn || current > 0) draw(true);
    },
  };
}
