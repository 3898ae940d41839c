// The host environment, read so that the engine runs in Node and in a page alike: a page has no
// `process`, so every environment variable the engine reads (WG_BACKEND, WG_LEAKS, ...) is undefined there.

/** The parts of Node's `process` the engine reads (declared here: the engine type-checks without Node's types). */
interface Process { env: Record<string, string | undefined>; platform: string; versions: { node?: string } }

/** Node's `process`, or undefined in a page (never the bare global, which a page lacks). */
export const nodeProcess = (): Process | undefined => (globalThis as { process?: Process }).process;

/** An environment variable, or undefined where there is no `process` (a page). */
export const env = (name: string): string | undefined => nodeProcess()?.env?.[name];

/** Running under Node (Dawn's binding available), not in a page. */
export const isNode = (): boolean => !!nodeProcess()?.versions?.node;
