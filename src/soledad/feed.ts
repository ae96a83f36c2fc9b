// A push-to-pull bridge: producers push items (or an end / an error) and one
// consumer pulls them with `for await`. Used to turn PouchDB's live changes
// event emitters into async iterators.
export class Feed<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: (() => void) | null = null;
  /** whenBelow() callers: resolved once fewer items than their mark are queued. */
  private roomWaiters: Array<{ below: number; resolve: () => void }> = [];
  private ended = false;
  private failure: Error | null = null;

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.wake();
  }

  end(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = err ?? null;
    this.wake();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Resolves once fewer than `below` items wait to be pulled (or the feed ended): lets a producer wait for its consumer. */
  whenBelow(below: number): Promise<void> {
    if (this.ended || this.items.length < below) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push({ below, resolve }));
  }

  private wakeRoom(): void {
    if (this.roomWaiters.length === 0) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) {
      if (this.ended || this.items.length < w.below) w.resolve();
      else this.roomWaiters.push(w);
    }
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
    if (this.ended) this.wakeRoom();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length > 0) {
        const item = this.items.shift()!;
        this.wakeRoom();
        yield item;
        continue;
      }
      if (this.ended) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
}
