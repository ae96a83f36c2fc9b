import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HybridLogicalClock, compareHlc, parseHlc } from '../../src/soledad/hlc.js';

test('HLC: monotonic even when the wall clock stands still or goes backwards', () => {
  let wall = 1_000_000;
  const clock = new HybridLogicalClock('a', () => wall);
  const t1 = clock.now();
  const t2 = clock.now();
  wall -= 5000; // clock stepped back
  const t3 = clock.now();
  assert.ok(compareHlc(t1, t2) < 0 && compareHlc(t2, t3) < 0);
  assert.equal(parseHlc(t3).ms, 1_000_000);
  wall += 10_000;
  assert.equal(parseHlc(clock.now()).counter, 0);
});

test('HLC: a timestamp issued after receiving one is later than it, whatever the clocks say', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: -10_000, max: 10_000 })), { minLength: 1, maxLength: 60 }), (steps) => {
      let wallA = 5_000_000;
      let wallB = 5_000_000 - 3_000; // B's clock is 3 s behind
      const a = new HybridLogicalClock('a', () => wallA);
      const b = new HybridLogicalClock('b', () => wallB);
      // Every timestamp a clock hands out is later than the previous one it handed out.
      const lastOf = new Map<HybridLogicalClock, string>();
      const issued = (clock: HybridLogicalClock, t: string): void => {
        const prev = lastOf.get(clock);
        if (prev !== undefined) assert.ok(compareHlc(prev, t) < 0);
        lastOf.set(clock, t);
      };
      for (const [fromA, drift] of steps) {
        wallA += Math.max(0, drift);
        wallB += Math.max(0, -drift);
        const [sender, receiver] = fromA ? [a, b] : [b, a];
        const sent = sender.now();
        issued(sender, sent);
        const received = receiver.update(sent);
        issued(receiver, received);
        assert.ok(compareHlc(sent, received) < 0);
      }
    }),
    { numRuns: 200 },
  );
});

test('HLC: ties between devices are broken by node id, deterministically', () => {
  const a = new HybridLogicalClock('devA', () => 42);
  const b = new HybridLogicalClock('devB', () => 42);
  const ta = a.now();
  const tb = b.now();
  assert.ok(compareHlc(ta, tb) < 0);
  assert.ok(compareHlc(tb, ta) > 0);
  assert.equal(compareHlc(ta, ta), 0);
  assert.throws(() => new HybridLogicalClock('bad.node'));
});
