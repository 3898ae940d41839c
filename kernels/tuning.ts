// Tuned kernel choices: for a kernel and a problem shape, the variant an autotuner measured fastest on
// this adapter (scripts/tune.ts; stored on disk by train/tune_cache.ts). A kernel asks tunedChoice() and
// falls back to its stated default heuristic when there is no entry, when the entry was measured on
// another version of the kernel (its WGSL hash differs), or when the choice is not one the kernel
// accepts: a stale or edited cache can only cost speed, never correctness. Browser-safe (no disk here).

export type Choice = Readonly<Record<string, number>>;

export interface TunedEntry {
  /** The chosen variant's parameters (e.g. TM, TPV, WGX of the pointwise GEMM). */
  choice: Choice;
  /** Hash of the kernel's WGSL for the shape's default variant when it was measured. */
  source: string;
  /** Median ms of the choice and of the default when measured (reports). */
  ms: number;
  defaultMs: number;
}

const table = new Map<string, TunedEntry>();
const key = (kernel: string, shape: string) => `${kernel} ${shape}`;

/** FNV-1a of a text, 8 hex digits: the kernel-source part of a tuning key. */
export function sourceHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
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
      !!e.choice && typeof e.choice === 'object' && Object.values(e.choice).every((x) => Number.isSafeInteger(x)) && k.includes(' ');
    if (!ok) { skipped++; continue; }
    table.set(k, { choice: { ...e!.choice }, source: e!.source!, ms: e!.ms!, defaultMs: e!.defaultMs! });
    loaded++;
  }
  return { loaded, skipped };
}
