// Dawn's native module and the GL stack under it print the same lines on every start that say nothing
// about the run: the Vulkan loader missing on a machine without one (Dawn probes Vulkan first), the
// OpenGL backend's dynamic-buffer limits, and EGL's complaint about XDG_RUNTIME_DIR on a headless
// machine. They are written by native code straight to file descriptor 2, so the CLIs' launcher
// (scripts/run_cli.ts) filters its child's stderr through this; every other line, Dawn's real warnings
// among them, passes through unchanged and at once.

/** Whole lines known to be noise. */
const NOISE: readonly RegExp[] = [
  /^Warning: Couldn't load Vulkan: libvulkan\.so\.1: cannot open shared object file: No such file or directory$/,
  /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/,
  /^error: XDG_RUNTIME_DIR (is invalid or )?not set( in the environment)?\.?$/,
];
// Dawn follows a warning with the source location it came from, then a blank line
const LOCATION = /^ {4}at .*\(.*:\d+\)$/;

const NOISE_STARTS = ["Warning: Couldn't load Vulkan", 'Warning: maxDynamic', 'error: XDG_RUNTIME_DIR'];

export class DawnNoiseFilter {
  private held = ''; // the start of a line that may turn out to be noise
  private started = false; // the current line's start was written: the rest follows unfiltered
  private afterNoise = 0; // lines that may still belong to the last noise warning (location, blank)

  /** Feed a chunk of stderr; returns what to write through now. */
  push(chunk: string): string {
    let out = '', text = chunk;
    while (text) {
      const nl = text.indexOf('\n');
      if (this.started) { // a line whose start already went out (e.g. a progress line)
        if (nl < 0) return out + text;
        out += text.slice(0, nl + 1);
        this.started = false;
      } else if (nl < 0) { // a line still being written: out at once unless it may become noise
        this.held += text;
        if (!this.mayBeNoise(this.held)) { out += this.held; this.held = ''; this.started = true; this.afterNoise = 0; }
        return out;
      } else {
        const line = this.held + text.slice(0, nl);
        this.held = '';
        if (this.keep(line)) out += line + '\n';
      }
      text = text.slice(nl + 1);
    }
    return out;
  }

  /** At the end of the stream: whatever is held back, unless it is noise. */
  end(): string {
    const rest = this.held;
    this.held = '';
    return rest && this.keep(rest) ? rest : '';
  }

  private keep(line: string): boolean {
    const bare = line.replace(/\r$/, '');
    if (NOISE.some((re) => re.test(bare))) { this.afterNoise = 2; return false; }
    if (this.afterNoise > 0 && (LOCATION.test(bare) || bare === '')) { this.afterNoise--; return false; }
    this.afterNoise = 0;
    return true;
  }

  private mayBeNoise(start: string): boolean {
    return this.afterNoise > 0 || NOISE_STARTS.some((p) => p.startsWith(start) || start.startsWith(p));
  }
}
