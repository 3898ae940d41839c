// Tuned kernel choices: for a kernel and a problem shape, the variant an autotuner measured fastest on
// this adapter (scripts/tune.ts; stored on disk by train/tune_cache.ts). A kernel asks tunedChoice() and
// falls back to its stated default heuristic when there is no entry, when the entry was measured on
// another version of the kernel (its WGSL hash differs), or when the choice is not one the kernel
// accepts: a stale or edited cache can only cost speed, never correctness. Browser-safe (no disk here).

import { Tensor, type DType, type Shape } from '../engine/index.ts';
import { f16Storage } from './kernel.ts';

export type Choice = Readonly<Record<string, number>>;

export interface TunedEntry {
  /** The chosen variant's parameters (e.g. TM, TPV, WGX of the pointwise GEMM). */
  choice: Choice;
  /** Hash of the kernel's WGSL for the shape's default variant when it was measured. */
  source: string;
  /** Median ms of the choice and of the default when measured (reports). */
  ms: number;
  defaultMs: number;
  /**
   * Candidates timed (the default first, in candidates() order) when a time budget ended the tuning
   * part-way: the choice is the one made among those, and the next tuning goes on from there, provided
   * the candidate list is still the one of `list`. Absent when every candidate was timed.
   */
  timed?: number;
  /** Hash of the candidate list a part-way tuning timed `timed` of (a changed list starts over). */
  list?: string;
}

const table = new Map<string, TunedEntry>();
const key = (kernel: string, shape: string) => `${kernel} ${shape}`;

/** FNV-1a of a text, 8 hex digits: the kernel-source part of a tuning key. */
export function sourceHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

const hashes = new Map<string, string>();
/** sourceHash of a kernel variant's WGSL, computed once per `variant` key (choices are asked per dispatch). */
export function variantHash(variant: string, wgsl: () => string): string {
  const k = `${variant} ${f16Storage()}`; // the WGSL differs with the f16 storage mode
  let h = hashes.get(k);
  if (!h) hashes.set(k, (h = sourceHash(wgsl())));
  return h;
}

/**
 * The tuned choice for `kernel` at `shape`, if one was measured for this kernel source (`source`, asked
 * only when there is an entry) and `valid`
 * accepts it; else undefined (the caller's default heuristic applies).
 */
export function tunedChoice(kernel: string, shape: string, source: () => string, valid: (c: Choice) => boolean): Choice | undefined {
  const e = table.get(key(kernel, shape));
  return e && e.source === source() && valid(e.choice) ? e.choice : undefined;
}

export function setTuned(kernel: string, shape: string, entry: TunedEntry): void {
  table.set(key(kernel, shape), entry);
}

/** Every entry, as `kernel shape` -> entry (for saving). */
export function tunedEntries(): ReadonlyMap<string, TunedEntry> { return table; }

/** Forget every entry (tests; a cache for another adapter). */
export function clearTuned(): void { table.clear(); }

/** Load entries saved by tunedEntries() (keys `kernel shape`); malformed ones are skipped and counted. */
export function loadTuned(entries: Record<string, unknown>): { loaded: number; skipped: number } {
  let loaded = 0, skipped = 0;
  for (const [k, v] of Object.entries(entries)) {
    const e = v as Partial<TunedEntry> | null;
    const ok = !!e && typeof e.source === 'string' && typeof e.ms === 'number' && typeof e.defaultMs === 'number' &&
      !!e.choice && typeof e.choice === 'object' && Object.values(e.choice).every((x) => Number.isSafeInteger(x)) && k.includes(' ') &&
      (e.timed === undefined || (Number.isSafeInteger(e.timed) && e.timed >= 1 && typeof e.list === 'string'));
    if (!ok) { skipped++; continue; }
    table.set(k, { choice: { ...e!.choice }, source: e!.source!, ms: e!.ms!, defaultMs: e!.defaultMs!, ...(e!.timed === undefined ? {} : { timed: e!.timed, list: e!.list! }) });
    loaded++;
  }
  return { loaded, skipped };
}

/**
 * One kernel problem (a kernel at a shape) as the tuner sees it: its candidate choices, the default
 * first; a way to time them; and where a measured choice goes. Kernels note the problems they dispatch
 * while recordProblems(true) is on (train/autotune.ts times them).
 */
export interface TuningProblem {
  /** `kernel shape`: the tuning table's key. */
  readonly key: string;
  /** The problem in words (logs). */
  readonly text: string;
  candidates(): Choice[];
  /** The choice the kernel makes now (tuned or default). */
  current(): Choice;
  /** Whether a tuned choice for this kernel source is cached, every candidate timed. */
  tuned(): boolean;
  /** A choice cached for this kernel source from a tuning a time budget ended part-way, and how many candidates it timed. */
  partial(): { choice: Choice; timed: number } | undefined;
  /** Record `c` as the choice (measured `ms`, the default `defaultMs`); `timed` when not every candidate was timed. */
  keep(c: Choice, ms: number, defaultMs: number, timed?: number): void;
  /** Tensors for one run of the problem; run(c) dispatches it with choice c. */
  open(): { run: (c: Choice) => void; dispose: () => void };
  /** 0 for tile choices, 1 for launch shapes (less to gain): recordProblems puts lower ranks first. */
  readonly rank: number;
}

let recording: Map<string, TuningProblem> | null = null;

/** Called by a kernel as it chooses: notes its problem while recording (made only then, once per key). */
function noteProblem(key: string, make: () => TuningProblem): void {
  if (recording && !recording.has(key)) recording.set(key, make());
}

/**
 * Start (true) or stop (false) recording the problems kernels dispatch; returns those recorded, lower
 * ranks first and in dispatch order within a rank, so a time-bounded tuner reaches the larger gains first.
 */
export function recordProblems(on: boolean): TuningProblem[] {
  const seen = [...(recording?.values() ?? [])].sort((a, b) => a.rank - b.rank);
  recording = on ? new Map() : null;
  return seen;
}

/** A choice in words, each key followed by its value in the choice's own order (`TM16 TPV4 WGX8`). */
export const choiceText = (c: Choice): string => Object.entries(c).map(([k, v]) => `${k}${v}`).join(' ');

/** What a kernel says about one of its tunable problems (see choose()). */
export interface Tunable<C extends object> {
  kernel: string;
  /** The shape key (with kernel, the table's key). */
  shape: string;
  text: string;
  /** The stated default heuristic's choice. */
  def: C;
  /** The candidates the tuner times, the default first; each must compute the default's bits. */
  candidates: () => C[];
  /** Whether the kernel accepts a choice (from a cache, possibly edited or stale). */
  valid: (c: Choice) => boolean;
  /** Hash of the kernel's source for the default choice: entries measured on another source are stale. */
  source: () => string;
  open: () => { run: (c: C) => void; dispose: () => void };
  /** See TuningProblem.rank; 0 when not given. */
  rank?: number;
}

/** A scratch tensor of a tuner's runs: its shape and dtype. */
export type Scratch = readonly [Shape, DType];

/**
 * A Tunable's `open` on scratch tensors made for the tuning and freed after it: `inputs` zeroed (every
 * kernel reads finite values), then `outputs` uninitialised, handed to `run` in that order.
 */
export function scratchRuns<C>(inputs: readonly Scratch[], outputs: readonly Scratch[], run: (c: C, t: Tensor[]) => void): () => { run: (c: C) => void; dispose: () => void } {
  return () => {
    const t = [...inputs.map(([s, d]) => Tensor.zeros(s, d)), ...outputs.map(([s, d]) => Tensor.empty(s, d))];
    return { run: (c) => run(c, t), dispose: () => { for (const x of t.splice(0)) x.dispose(); } };
  };
}

/** The choice for a problem: its tuned one where cached and valid, else the default; noted while recording. */
export function choose<C extends object>(t: Tunable<C>): C {
  noteProblem(key(t.kernel, t.shape), () => problemOf(t));
  const c = tunedChoice(t.kernel, t.shape, t.source, t.valid);
  return c ? ({ ...c } as unknown as C) : t.def;
}

function problemOf<C extends object>(t: Tunable<C>): TuningProblem {
  const tuned = () => tunedChoice(t.kernel, t.shape, t.source, t.valid);
  const entry = () => (tuned() ? table.get(key(t.kernel, t.shape))! : undefined);
  const list = () => sourceHash((t.candidates() as unknown as Choice[]).map(choiceText).join('|'));
  return {
    key: key(t.kernel, t.shape), text: t.text, rank: t.rank ?? 0,
    candidates: () => t.candidates() as unknown as Choice[],
    current: () => tuned() ?? (t.def as unknown as Choice),
    tuned: () => entry() !== undefined && entry()!.timed === undefined,
    partial: () => {
      const e = entry();
      if (e?.timed === undefined) return undefined;
      return { choice: e.choice, timed: e.list === list() ? e.timed : 1 }; // another candidate list: start over
    },
    keep: (c, ms, defaultMs, n) => setTuned(t.kernel, t.shape, { choice: { ...c }, source: t.source(), ms, defaultMs, ...(n === undefined ? {} : { timed: n, list: list() }) }),
    open: () => { const p = t.open(); return { run: (c: Choice) => p.run(c as unknown as C), dispose: p.dispose }; },
  };
}
