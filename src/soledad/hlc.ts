// A hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014):
// timestamps that follow wall-clock time but never go backwards and always
// order an event after every event it has seen, even across devices whose
// clocks disagree. Used for per-field last-writer-wins merges (mail flags).
//
// Encoded as a fixed-width string so plain string comparison is the order:
//   <ms since epoch, 13 digits>.<counter, 6 digits>.<node id>

export interface HlcTimestamp {
  ms: number;
  counter: number;
  node: string;
}

const MS_WIDTH = 13;
const COUNTER_WIDTH = 6;
const MAX_COUNTER = 10 ** COUNTER_WIDTH - 1;

export function encodeHlc(t: HlcTimestamp): string {
  return `${String(t.ms).padStart(MS_WIDTH, '0')}.${String(t.counter).padStart(COUNTER_WIDTH, '0')}.${t.node}`;
}

export function parseHlc(s: string): HlcTimestamp {
  const m = /^(\d{13})\.(\d{6})\.(.*)$/s.exec(s);
  if (!m) throw new Error(`not an HLC timestamp: ${JSON.stringify(s)}`);
  return { ms: Number(m[1]), counter: Number(m[2]), node: m[3]! };
}

/** Total order: time, then counter, then node id (ties between devices broken deterministically). */
export function compareHlc(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class HybridLogicalClock {
  private last: HlcTimestamp;

  constructor(
    readonly node: string,
    private readonly wallClock: () => number = Date.now,
  ) {
    if (node.includes('.')) throw new Error('HLC node id must not contain "."');
    this.last = { ms: 0, counter: 0, node };
  }

  /** A timestamp for a local event, later than every one issued or seen before. */
  now(): string {
    const wall = this.wallClock();
    if (wall > this.last.ms) this.last = { ms: wall, counter: 0, node: this.node };
    else this.last = this.bump(this.last.ms, this.last.counter);
    return encodeHlc(this.last);
  }

  /** Folds in a timestamp received from another device; returns the new local time. */
  update(remote: string): string {
    const r = parseHlc(remote);
    const wall = this.wallClock();
    const ms = Math.max(wall, this.last.ms, r.ms);
    let counter: number;
    if (ms === this.last.ms && ms === r.ms) counter = Math.max(this.last.counter, r.counter) + 1;
    else if (ms === this.last.ms) counter = this.last.counter + 1;
    else if (ms === r.ms) counter = r.counter + 1;
    else counter = 0;
    this.last = counter > MAX_COUNTER ? { ms: ms + 1, counter: 0, node: this.node } : { ms, counter, node: this.node };
    return encodeHlc(this.last);
  }

  private bump(ms: number, counter: number): HlcTimestamp {
    // Counter overflow (a million events in one ms) moves into the next millisecond.
    return counter >= MAX_COUNTER ? { ms: ms + 1, counter: 0, node: this.node } : { ms, counter: counter + 1, node: this.node };
  }
}
