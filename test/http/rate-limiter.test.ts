import { describe, expect, it } from 'vitest';
import { TokenBucketLimiter } from '../../src/http/index.js';

function clock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('TokenBucketLimiter', () => {
  it('allows a burst up to capacity, then denies with the seconds until a token is back', () => {
    const c = clock();
    const limiter = new TokenBucketLimiter({ capacity: 3, refillPerSecond: 0.5, now: c.now });
    for (let i = 0; i < 3; i++) expect(limiter.take('a')).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 2 });
    c.advance(1_000);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    c.advance(1_000);
    expect(limiter.take('a')).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('keeps one bucket per key', () => {
    const c = clock();
    const limiter = new TokenBucketLimiter({ capacity: 1, refillPerSecond: 1, now: c.now });
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });

  it('refills no further than capacity', () => {
    const c = clock();
    const limiter = new TokenBucketLimiter({ capacity: 2, refillPerSecond: 10, now: c.now });
    limiter.take('a', 2);
    c.advance(60_000);
    expect(limiter.take('a', 2).allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
  });

  it('charges a cost and takes nothing when denied', () => {
    const c = clock();
    const limiter = new TokenBucketLimiter({ capacity: 5, refillPerSecond: 1, now: c.now });
    expect(limiter.take('a', 4).allowed).toBe(true);
    expect(limiter.take('a', 3)).toEqual({ allowed: false, retryAfterSeconds: 2 });
    expect(limiter.take('a', 1).allowed).toBe(true);
    expect(() => limiter.take('a', 6)).toThrow(/cost/);
    expect(() => limiter.take('a', 0)).toThrow(/cost/);
  });

  it('does not refill when the clock steps back', () => {
    const c = clock(10_000);
    const limiter = new TokenBucketLimiter({ capacity: 1, refillPerSecond: 1, now: c.now });
    limiter.take('a');
    c.advance(-5_000);
    expect(limiter.take('a').allowed).toBe(false);
    c.advance(1_000);
    expect(limiter.take('a').allowed).toBe(true);
  });

  it('forgets the least recently used key past maxKeys', () => {
    const c = clock();
    const limiter = new TokenBucketLimiter({ capacity: 1, refillPerSecond: 0.001, maxKeys: 2, now: c.now });
    limiter.take('a');
    limiter.take('b');
    limiter.take('a'); // a is now the most recently used (and denied)
    limiter.take('c'); // evicts b
    expect(limiter.size).toBe(2);
    expect(limiter.take('a').allowed).toBe(false); // still tracked: still empty
    expect(limiter.take('b').allowed).toBe(true); // forgotten: a fresh bucket (evicts c)
    expect(limiter.size).toBe(2);
    expect(limiter.take('c').allowed).toBe(true);
  });

  it('stays bounded under a flood of distinct keys', () => {
    const limiter = new TokenBucketLimiter({ capacity: 1, refillPerSecond: 1, maxKeys: 100, now: () => 0 });
    for (let i = 0; i < 10_000; i++) limiter.take(`k${i}`);
    expect(limiter.size).toBe(100);
  });

  it('refuses nonsense settings', () => {
    expect(() => new TokenBucketLimiter({ capacity: 0, refillPerSecond: 1 })).toThrow(/capacity/);
    expect(() => new TokenBucketLimiter({ capacity: 1, refillPerSecond: 0 })).toThrow(/refillPerSecond/);
    expect(() => new TokenBucketLimiter({ capacity: 1, refillPerSecond: 1, maxKeys: 0 })).toThrow(/maxKeys/);
  });
});

describe('rateLimitKey', () => {
  it('keys IPv4 by address and IPv6 by its /64, so one IPv6 client cannot rotate addresses', async () => {
    const { rateLimitKey } = await import('../../src/http/http-server.js');
    expect(rateLimitKey('203.0.113.9')).toBe('203.0.113.9');
    expect(rateLimitKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(rateLimitKey('::1')).toBe('0:0:0:0::/64');
  });
});
