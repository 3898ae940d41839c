// A small command-line flag parser shared by the train, eval, predict and bench programs (no
// dependency: node:util's parseArgs has no typed values, presets or generated help).
// A flag table maps `--kebab-name` to a typed value with a default and a help line. Accepted forms:
// `--name value`, `--name=value`, `--flag` / `--no-flag` for booleans, and `--name [value]` for
// optional-value flags (the value is taken only if the next token does not start with `--`).
// Errors name the flag: "--batch-size: expected an integer >= 1, got 'abc'".

export class FlagError extends Error {
  override name = 'FlagError';
}

/**
 * A program's entry point: exits with main's status, or prints an unexpected error (its stack with
 * `stack`, for the benchmarks) and exits 1. Dawn's device would otherwise keep the process alive.
 */
export async function runMain(main: (argv: string[]) => Promise<number>, opts: { stack?: boolean } = {}): Promise<never> {
  try {
    process.exit(await main(process.argv.slice(2)));
  } catch (e) {
    console.error(e instanceof Error ? `error: ${opts.stack ? e.stack ?? e.message : e.message}` : e);
    process.exit(1);
  }
}

type Base = { help: string; metavar?: string };
export type FlagSpec =
  | (Base & { type: 'int'; default: number; min?: number; max?: number })
  | (Base & { type: 'number'; default: number; min?: number; max?: number; exclusiveMin?: boolean })
  | (Base & { type: 'string'; default: string | null })
  | (Base & { type: 'choice'; default: string; choices: readonly string[] })
  | (Base & { type: 'bool'; default: boolean })
  /** `--resume` alone gives `true`, `--resume FILE` gives the string, absent gives the default (null). */
  | (Base & { type: 'optional'; default: null });

export type FlagTable = Record<string, FlagSpec>;

type ValueOf<S extends FlagSpec> =
  S extends { type: 'int' | 'number' } ? number
  : S extends { type: 'string' } ? string | null
  : S extends { type: 'choice' } ? string
  : S extends { type: 'bool' } ? boolean
  : S extends { type: 'optional' } ? string | true | null
  : never;

export type FlagValues<T extends FlagTable> = { [K in keyof T]: ValueOf<T[K]> };

export interface Parsed<T extends FlagTable> {
  values: FlagValues<T>;
  /** Flags given on the command line (so presets never override them). */
  explicit: Set<keyof T & string>;
  positional: string[];
  help: boolean;
}

/** Convert one raw string for `--name`, or throw a FlagError naming it. */
export function convert(name: string, spec: FlagSpec, raw: string): string | number | boolean {
  const bad = (want: string) => new FlagError(`--${name}: expected ${want}, got '${raw}'`);
  switch (spec.type) {
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw.trim())) throw bad(intRange(spec));
      const v = Number(raw);
      if (!Number.isSafeInteger(v) || (spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) throw bad(intRange(spec));
      return v;
    }
    case 'number': {
      const v = raw.trim() === '' ? NaN : Number(raw);
      const lowOk = spec.min === undefined || (spec.exclusiveMin ? v > spec.min : v >= spec.min);
      if (!Number.isFinite(v) || !lowOk || (spec.max !== undefined && v > spec.max)) throw bad(numberRange(spec));
      return v;
    }
    case 'choice':
      if (!spec.choices.includes(raw)) throw bad(`one of ${spec.choices.join('|')}`);
      return raw;
    case 'bool':
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      throw bad('true or false');
    case 'string':
    case 'optional':
      if (raw === '') throw bad('a non-empty value');
      return raw;
  }
}

function intRange(s: { min?: number; max?: number }): string {
  if (s.min !== undefined && s.max !== undefined) return `an integer in [${s.min}, ${s.max}]`;
  return s.min !== undefined ? `an integer >= ${s.min}` : 'an integer';
}

function numberRange(s: { min?: number; max?: number; exclusiveMin?: boolean }): string {
  const lo = s.min === undefined ? '' : ` ${s.exclusiveMin ? '>' : '>='} ${s.min}`;
  const hi = s.max === undefined ? '' : `${lo ? ' and' : ''} <= ${s.max}`;
  return `a number${lo}${hi}`;
}

/** Parse argv (without node and script). `--help`/`-h` sets `help`; unknown flags throw. */
export function parseFlags<T extends FlagTable>(table: T, argv: readonly string[], opts: { positional?: boolean } = {}): Parsed<T> {
  const values = Object.fromEntries(Object.entries(table).map(([k, s]) => [k, s.default])) as Record<string, unknown>;
  const explicit = new Set<string>();
  const positional: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') { help = true; continue; }
    if (arg === '--') { positional.push(...argv.slice(i + 1)); break; }
    if (!arg.startsWith('--')) {
      if (!opts.positional) throw new FlagError(`unexpected argument '${arg}' (flags start with --; see --help)`);
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let inline: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let spec = table[name];
    if (!spec && name.startsWith('no-') && table[name.slice(3)]?.type === 'bool' && inline === undefined) {
      name = name.slice(3);
      spec = table[name];
      inline = 'false';
    }
    if (!spec) throw new FlagError(`unknown flag --${name}${suggest(name, Object.keys(table))} (see --help)`);
    if (explicit.has(name)) throw new FlagError(`--${name}: given more than once`);
    explicit.add(name);
    const next = argv[i + 1];
    const takesNext = next !== undefined && !next.startsWith('--');
    if (spec.type === 'bool') {
      values[name] = inline === undefined ? true : convert(name, spec, inline);
    } else if (spec.type === 'optional') {
      if (inline !== undefined) values[name] = convert(name, spec, inline);
      else if (takesNext) { values[name] = convert(name, spec, next!); i++; }
      else values[name] = true;
    } else {
      if (inline === undefined) {
        if (next === undefined || next.startsWith('--')) throw new FlagError(`--${name}: missing value (${metavar(name, spec)})`);
        inline = next;
        i++;
      }
      values[name] = convert(name, spec, inline);
    }
  }
  return { values: values as FlagValues<T>, explicit: explicit as Set<keyof T & string>, positional, help };
}

function suggest(name: string, names: string[]): string {
  const close = names.filter((n) => n.includes(name) || name.includes(n) || editDistance(n, name) <= 2);
  return close.length ? `; did you mean ${close.map((n) => `--${n}`).join(' or ')}?` : '';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

function metavar(name: string, s: FlagSpec): string {
  if (s.metavar) return s.metavar;
  if (s.type === 'choice') return s.choices.join('|');
  if (s.type === 'int') return 'N';
  if (s.type === 'number') return 'X';
  return name.toUpperCase().replace(/-/g, '_');
}

/**
 * A program's flags: the parsed values, or the exit status when there is nothing more to do (--help
 * printed: 0; a bad flag named on stderr after the program's name: 2). `validate` may throw a
 * FlagError for checks across flags (a required one missing).
 */
export function programFlags<T extends FlagTable>(prog: string, usage: string, table: T, argv: readonly string[],
  opts: { positional?: boolean; validate?: (p: Parsed<T>) => void } = {}): Parsed<T> | number {
  let p: Parsed<T>;
  try {
    p = parseFlags(table, argv, opts);
    if (!p.help) opts.validate?.(p);
  } catch (e) {
    if (e instanceof FlagError) { console.error(`${prog}: ${e.message}`); return 2; }
    throw e;
  }
  if (p.help) { console.log(formatHelp(usage, table)); return 0; }
  return p;
}

/** Help text: usage line, then one line per flag with its default. */
export function formatHelp(usage: string, table: FlagTable, epilogue = ''): string {
  const rows = Object.entries(table).map(([name, s]) => {
    const left = s.type === 'bool' ? `--${name}, --no-${name}` : s.type === 'optional' ? `--${name} [${metavar(name, s)}]` : `--${name} ${metavar(name, s)}`;
    const def = s.default === null ? '' : ` (default: ${s.default})`;
    return [left, `${s.help}${def}`] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return [usage, '', 'Flags:', ...rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`), '  --help, -h'.padEnd(width + 2) + 'print this help and exit', epilogue]
    .filter((s, i, a) => i < a.length - 1 || s !== '').join('\n');
}
