import { ErrorCodes, PgwardenError } from '../errors/index.js';

/** Label values of one series, keyed by the label names the metric was registered with. */
export type LabelValues<L extends string> = Readonly<Record<L, string>>;

/** A value that only goes up (requests served, errors seen). */
export interface Counter<L extends string = string> {
  /** Adds `value` (default 1, never negative) to the series with these labels. */
  inc(labels?: LabelValues<L>, value?: number): void;
}

/** A value that goes up and down (connections open, queue length). */
export interface Gauge<L extends string = string> {
  set(labels: LabelValues<L> | undefined, value: number): void;
  inc(labels?: LabelValues<L>, value?: number): void;
  dec(labels?: LabelValues<L>, value?: number): void;
}

/** Counts observations into cumulative buckets, with their sum and count (latencies, sizes). */
export interface Histogram<L extends string = string> {
  observe(labels: LabelValues<L> | undefined, value: number): void;
}

/** What a gauge's collect callback returns: one number (no labels) or one sample per series. */
export type GaugeCollected<L extends string> = number | ReadonlyArray<{ labels: LabelValues<L>; value: number }>;

/** Prometheus' default buckets, in seconds: from 5 ms to 10 s. */
export const defaultBuckets: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type Kind = 'counter' | 'gauge' | 'histogram';

interface Series {
  labels: readonly string[];
  value: number;
  /** Histogram only: per-bucket counts (not cumulative), the last one for +Inf. */
  buckets?: number[];
}

interface Family {
  name: string;
  help: string;
  kind: Kind;
  labelNames: readonly string[];
  buckets: readonly number[];
  series: Map<string, Series>;
  collect: (() => GaugeCollected<string>) | undefined;
  /** The handle handed out, returned again when the same metric is registered twice. */
  handle: unknown;
}

/**
 * A small Prometheus registry: counters, gauges and histograms rendered in the text exposition
 * format 0.0.4. Metrics render in registration order and series in the order first seen, so the
 * output is stable. Registering a name again with the same type, help and labels returns the
 * metric already there (two servers in one process can share a registry); any other clash throws.
 *
 * @example
 * const metrics = new MetricsRegistry();
 * const logins = metrics.counter('pgwarden_logins_total', 'Logins by outcome.', ['outcome']);
 * logins.inc({ outcome: 'ok' });
 * metrics.render(); // '# HELP pgwarden_logins_total Logins by outcome.\n# TYPE … counter\npgwarden_logins_total{outcome="ok"} 1\n'
 */
export class MetricsRegistry {
  readonly #families = new Map<string, Family>();
  /** Every name a family renders under, histograms' `_bucket`/`_sum`/`_count` included. */
  readonly #taken = new Map<string, string>();

  /**
   * Registers a counter.
   *
   * @example
   * const errors = metrics.counter('pgwarden_errors_total', 'Errors by code.', ['code']);
   * errors.inc({ code: 'PW300' });
   */
  counter<const L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.#register(name, help, 'counter', labelNames, [], undefined, (family) => ({
      inc: (labels?: LabelValues<L>, value = 1) => {
        if (!(value >= 0) || !Number.isFinite(value)) throw invalid(`counter ${name} can only grow by a finite amount`);
        this.#series(family, labels).value += value;
      },
    }));
  }

  /**
   * Registers a gauge, set directly or, with `collect`, read at every render.
   *
   * @example
   * const open = metrics.gauge('pgwarden_sessions_open', 'Sessions open.');
   * open.inc();
   * metrics.gauge('pgwarden_pool_size', 'Pool size.', [], () => pool.totalCount);
   */
  gauge<const L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    collect?: () => GaugeCollected<L>,
  ): Gauge<L> {
    return this.#register(name, help, 'gauge', labelNames, [], collect, (family) => ({
      set: (labels: LabelValues<L> | undefined, value: number) => {
        this.#series(family, labels).value = value;
      },
      inc: (labels?: LabelValues<L>, value = 1) => {
        this.#series(family, labels).value += value;
      },
      dec: (labels?: LabelValues<L>, value = 1) => {
        this.#series(family, labels).value -= value;
      },
    }));
  }

  /**
   * Registers a histogram. `buckets` are upper bounds in increasing order; `+Inf` is added.
   *
   * @example
   * const latency = metrics.histogram('pgwarden_login_seconds', 'Login latency.', ['outcome'], [0.1, 0.5, 1]);
   * latency.observe({ outcome: 'ok' }, 0.23);
   */
  histogram<const L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets: readonly number[] = defaultBuckets,
  ): Histogram<L> {
    const bounds = buckets.filter((b) => b !== Number.POSITIVE_INFINITY);
    bounds.forEach((b, i) => {
      if (!Number.isFinite(b) || (i > 0 && b <= (bounds[i - 1] as number)))
        throw invalid(`histogram ${name} needs finite buckets in strictly increasing order`);
    });
    if (labelNames.some((l) => l === 'le')) throw invalid(`histogram ${name} cannot use the label name "le"`);
    return this.#register(name, help, 'histogram', labelNames, bounds, undefined, (family) => ({
      observe: (labels: LabelValues<L> | undefined, value: number) => {
        if (Number.isNaN(value)) throw invalid(`histogram ${name} cannot observe NaN`);
        const series = this.#series(family, labels);
        const counts = series.buckets as number[];
        const index = bounds.findIndex((b) => value <= b);
        const slot = index === -1 ? bounds.length : index;
        counts[slot] = (counts[slot] as number) + 1;
        series.value += value;
      },
    }));
  }

  /**
   * The whole registry in the Prometheus text format 0.0.4 (serve it as
   * `text/plain; version=0.0.4`). A gauge's collect callback that throws makes render throw.
   *
   * @example
   * res.end(metrics.render());
   */
  render(): string {
    const lines: string[] = [];
    for (const family of this.#families.values()) {
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.kind}`);
      for (const series of this.#samples(family)) renderSeries(family, series, lines);
    }
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }

  #register<H>(
    name: string,
    help: string,
    kind: Kind,
    labelNames: readonly string[],
    buckets: readonly number[],
    collect: (() => GaugeCollected<string>) | undefined,
    build: (family: Family) => H,
  ): H {
    if (!metricNamePattern.test(name)) throw invalid(`"${name}" is not a valid Prometheus metric name`);
    for (const label of labelNames) {
      if (!labelNamePattern.test(label) || label.startsWith('__'))
        throw invalid(`"${label}" is not a valid Prometheus label name (metric ${name})`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw invalid(`metric ${name} repeats a label name`);
    const existing = this.#families.get(name);
    if (existing) {
      const same =
        existing.kind === kind &&
        existing.help === help &&
        existing.collect === undefined &&
        collect === undefined &&
        sameList(existing.labelNames, labelNames) &&
        sameList(existing.buckets, buckets);
      if (!same) throw invalid(`metric ${name} is already registered with another definition`);
      return existing.handle as H;
    }
    const names = kind === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
    const clash = names.find((n) => this.#taken.has(n));
    if (clash !== undefined) throw invalid(`metric ${name} clashes with ${this.#taken.get(clash)} (${clash})`);
    const family: Family = {
      name,
      help,
      kind,
      labelNames: [...labelNames],
      buckets,
      series: new Map(),
      collect,
      handle: undefined,
    };
    family.handle = build(family);
    // A metric without labels has exactly one series: show it as 0 before anything happens.
    if (labelNames.length === 0 && collect === undefined) this.#series(family, undefined);
    this.#families.set(name, family);
    for (const n of names) this.#taken.set(n, name);
    return family.handle as H;
  }

  #series(family: Family, labels: Readonly<Record<string, string>> | undefined): Series {
    const values = labelValues(family, labels);
    const key = JSON.stringify(values);
    let series = family.series.get(key);
    if (!series) {
      series = { labels: values, value: 0 };
      if (family.kind === 'histogram') series.buckets = new Array<number>(family.buckets.length + 1).fill(0);
      family.series.set(key, series);
    }
    return series;
  }

  #samples(family: Family): Iterable<Series> {
    if (family.collect === undefined) return family.series.values();
    const collected = family.collect();
    if (typeof collected === 'number') return [{ labels: labelValues(family, undefined), value: collected }];
    return collected.map((s) => ({ labels: labelValues(family, s.labels), value: s.value }));
  }
}

function renderSeries(family: Family, series: Series, lines: string[]): void {
  if (family.kind !== 'histogram') {
    lines.push(`${family.name}${labelSet(family.labelNames, series.labels)} ${formatNumber(series.value)}`);
    return;
  }
  const counts = series.buckets ?? [];
  const bounds = [...family.buckets.map(formatNumber), '+Inf'];
  const bucketLabels = [...family.labelNames, 'le'];
  let cumulative = 0;
  bounds.forEach((le, i) => {
    cumulative += counts[i] ?? 0;
    lines.push(`${family.name}_bucket${labelSet(bucketLabels, [...series.labels, le])} ${cumulative}`);
  });
  const plain = labelSet(family.labelNames, series.labels);
  lines.push(`${family.name}_sum${plain} ${formatNumber(series.value)}`, `${family.name}_count${plain} ${cumulative}`);
}

function labelValues(family: Family, labels: Readonly<Record<string, string>> | undefined): string[] {
  const given = labels ?? {};
  const keys = Object.keys(given);
  if (keys.length !== family.labelNames.length || keys.some((k) => !family.labelNames.includes(k)))
    throw invalid(`metric ${family.name} takes the labels [${family.labelNames.join(', ')}], got [${keys.join(', ')}]`);
  return family.labelNames.map((name) => String(given[name]));
}

function labelSet(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  return `{${names.map((n, i) => `${n}="${escapeLabelValue(values[i] ?? '')}"`).join(',')}}`;
}

function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function escapeHelp(help: string): string {
  return help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function invalid(message: string): PgwardenError {
  return new PgwardenError(ErrorCodes.INTERNAL, message);
}
