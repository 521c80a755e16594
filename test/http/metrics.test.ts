import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../src/http/index.js';

describe('MetricsRegistry', () => {
  it('renders counters, gauges and histograms in the text format 0.0.4', () => {
    const registry = new MetricsRegistry();
    const logins = registry.counter('pgwarden_logins_total', 'Logins by outcome.', ['outcome']);
    const open = registry.gauge('pgwarden_sessions_open', 'Sessions open\nnow, with a \\ in help.');
    const latency = registry.histogram('pgwarden_login_seconds', 'Login latency.', ['outcome'], [0.1, 0.5]);
    registry.gauge('pgwarden_pool', 'Pool clients.', ['state'], () => [
      { labels: { state: 'idle' }, value: 3 },
      { labels: { state: 'busy' }, value: 1 },
    ]);
    logins.inc({ outcome: 'ok' });
    logins.inc({ outcome: 'ok' }, 2);
    logins.inc({ outcome: 'say "hi"\\\n' });
    open.inc();
    open.inc(undefined, 4);
    open.dec();
    latency.observe({ outcome: 'ok' }, 0.05);
    latency.observe({ outcome: 'ok' }, 0.1);
    latency.observe({ outcome: 'ok' }, 0.3);
    latency.observe({ outcome: 'ok' }, 7);

    expect(registry.render()).toBe(
      [
        '# HELP pgwarden_logins_total Logins by outcome.',
        '# TYPE pgwarden_logins_total counter',
        'pgwarden_logins_total{outcome="ok"} 3',
        'pgwarden_logins_total{outcome="say \\"hi\\"\\\\\\n"} 1',
        '# HELP pgwarden_sessions_open Sessions open\\nnow, with a \\\\ in help.',
        '# TYPE pgwarden_sessions_open gauge',
        'pgwarden_sessions_open 4',
        '# HELP pgwarden_login_seconds Login latency.',
        '# TYPE pgwarden_login_seconds histogram',
        'pgwarden_login_seconds_bucket{outcome="ok",le="0.1"} 2',
        'pgwarden_login_seconds_bucket{outcome="ok",le="0.5"} 3',
        'pgwarden_login_seconds_bucket{outcome="ok",le="+Inf"} 4',
        'pgwarden_login_seconds_sum{outcome="ok"} 7.45',
        'pgwarden_login_seconds_count{outcome="ok"} 4',
        '# HELP pgwarden_pool Pool clients.',
        '# TYPE pgwarden_pool gauge',
        'pgwarden_pool{state="idle"} 3',
        'pgwarden_pool{state="busy"} 1',
        '',
      ].join('\n'),
    );
  });

  it('shows a metric without labels as 0 before anything happens, and renders nothing when empty', () => {
    expect(new MetricsRegistry().render()).toBe('');
    const registry = new MetricsRegistry();
    registry.counter('jobs_total', 'Jobs.');
    registry.histogram('job_seconds', 'Job time.', [], [1]);
    expect(registry.render()).toBe(
      [
        '# HELP jobs_total Jobs.',
        '# TYPE jobs_total counter',
        'jobs_total 0',
        '# HELP job_seconds Job time.',
        '# TYPE job_seconds histogram',
        'job_seconds_bucket{le="1"} 0',
        'job_seconds_bucket{le="+Inf"} 0',
        'job_seconds_sum 0',
        'job_seconds_count 0',
        '',
      ].join('\n'),
    );
  });

  it('gauge set, and a collect callback returning one number', () => {
    const registry = new MetricsRegistry();
    registry.gauge('temp', 'Temperature.', ['room']).set({ room: 'a' }, -1.5);
    let n = 1;
    registry.gauge('calls', 'Collected.', [], () => n++);
    expect(registry.render()).toContain('temp{room="a"} -1.5\n');
    expect(registry.render()).toContain('calls 2\n');
  });

  it('refuses invalid metric and label names', () => {
    const registry = new MetricsRegistry();
    expect(() => registry.counter('1bad', 'x')).toThrow(/metric name/);
    expect(() => registry.counter('bad-name', 'x')).toThrow(/metric name/);
    expect(() => registry.counter('ok', 'x', ['bad-label'])).toThrow(/label name/);
    expect(() => registry.counter('ok', 'x', ['__reserved'])).toThrow(/label name/);
    expect(() => registry.histogram('h', 'x', ['le'])).toThrow(/le/);
    expect(() => registry.histogram('h', 'x', [], [1, 1])).toThrow(/increasing/);
    expect(() => registry.counter('colon:ok_total', 'x')).not.toThrow();
  });

  it('refuses labels that do not match the registration, and negative counter steps', () => {
    const registry = new MetricsRegistry();
    const c = registry.counter('c_total', 'x', ['a']);
    expect(() => c.inc({ a: '1', b: '2' } as never)).toThrow(/labels/);
    expect(() => c.inc()).toThrow(/labels/);
    expect(() => c.inc({ a: '1' }, -1)).toThrow(/grow/);
  });

  it('returns the same metric for the same definition and refuses a clashing one', () => {
    const registry = new MetricsRegistry();
    const a = registry.counter('hits_total', 'Hits.', ['route']);
    expect(registry.counter('hits_total', 'Hits.', ['route'])).toBe(a);
    expect(() => registry.gauge('hits_total', 'Hits.', ['route'])).toThrow(/already registered/);
    registry.histogram('lat', 'Latency.');
    expect(() => registry.counter('lat_count', 'x')).toThrow(/clashes/);
  });
});
