// How the launcher (scripts/run_cli.ts) passes stop signals to its child. One keypress can reach the
// launcher twice: the terminal signals the whole foreground process group, and npm forwards the same
// signal to its direct child, which the launcher is when npm's script shell execs the command (bash
// does; Debian's dash stays in between and takes npm's copy). A second copy would reach the trainer as
// a second Ctrl-C, which means "exit now without saving". So a repeat of the same signal within
// REPEAT_MS of the last one forwarded is taken for that copy and dropped; a deliberate second Ctrl-C
// comes later than that (a human's double press inside it counts as one; press again).
export const REPEAT_MS = 400;

/** A forwarder of signals to `send` that drops a repeat of the same signal within REPEAT_MS. */
export function onceForwarder(send: (sig: NodeJS.Signals) => void, now: () => number = () => performance.now()): (sig: NodeJS.Signals) => void {
  const last = new Map<NodeJS.Signals, number>();
  return (sig) => {
    const t = now(), before = last.get(sig);
    if (before !== undefined && t - before < REPEAT_MS) return;
    last.set(sig, t);
    send(sig);
  };
}
