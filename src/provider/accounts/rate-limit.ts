// Failed-login limiter, per address and per client IP, over a sliding window.
// In-process memory: with several gateway processes each limits on its own,
// which still bounds online guessing to (processes × limit) per window.
import type { LoginLimits } from '../options.js';

export class LoginRateLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly limits: LoginLimits) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.limits.windowMs);
    if (list.length === 0) this.failures.delete(key);
    else this.failures.set(key, list);
    return list;
  }

  /** Seconds until another attempt is allowed, or 0 when it is allowed now. */
  retryAfter(address: string, ip: string, now = Date.now()): number {
    const checks: Array<[string, number]> = [
      [`a:${address}`, this.limits.perAddress],
      [`i:${ip}`, this.limits.perIp],
    ];
    let wait = 0;
    for (const [key, max] of checks) {
      const list = this.recent(key, now);
      if (list.length >= max) wait = Math.max(wait, list[list.length - max]! + this.limits.windowMs - now);
    }
    return wait > 0 ? Math.ceil(wait / 1000) : 0;
  }

  recordFailure(address: string, ip: string, now = Date.now()): void {
    for (const key of [`a:${address}`, `i:${ip}`]) {
      const list = this.recent(key, now);
      list.push(now);
      this.failures.set(key, list);
    }
    this.prune(now);
  }

  /** A successful login clears the address's failures (not the IP's). */
  recordSuccess(address: string): void {
    this.failures.delete(`a:${address}`);
  }

  // Keeps the map from growing without bound under a spray of addresses.
  private prune(now: number): void {
    if (this.failures.size < 10_000) return;
    for (const key of [...this.failures.keys()]) this.recent(key, now);
  }
}
