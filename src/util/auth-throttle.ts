// Slows down password guessing against the local IMAP server and SMTP gateway
// across all connections. A delay after each failure alone is not enough: a
// guesser opens many connections in parallel, or drops a connection as soon
// as the answer is late. So every attempt made while failures are recent
// waits for its own time slot before the password is even checked; slots
// are spaced by a delay that doubles with each recent failure (capped), so
// the guess rate is bounded however many connections are used. With no
// recent failure an attempt is not delayed at all.
export interface AuthThrottleOptions {
  /** Spacing after the first recent failure (doubles with each further one). */
  baseDelayMs?: number;
  /** Largest spacing between attempts. */
  maxDelayMs?: number;
  /** Failures older than this are forgotten. */
  windowMs?: number;
}

export class AuthThrottle {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly windowMs: number;
  private failures: number[] = [];
  private nextSlot = 0;

  constructor(opts: AuthThrottleOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 10_000;
    this.windowMs = opts.windowMs ?? 5 * 60_000;
  }

  /** Recent failures (within the window). */
  recentFailures(now = Date.now()): number {
    this.failures = this.failures.filter((t) => now - t < this.windowMs);
    return this.failures.length;
  }

  private spacing(failures: number): number {
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(30, failures - 1));
  }

  /** Waits for this attempt's slot (at once when nobody failed recently). */
  async beforeAttempt(): Promise<void> {
    const now = Date.now();
    const failures = this.recentFailures(now);
    if (failures === 0) return;
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + this.spacing(failures);
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
  }

  /** A wrong password: the next attempt (from any connection) waits longer. */
  recordFailure(): void {
    const now = Date.now();
    this.failures.push(now);
    this.nextSlot = Math.max(this.nextSlot, now + this.spacing(this.recentFailures(now)));
  }
}
