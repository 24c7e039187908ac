/** One scrape of a Prometheus text endpoint: samples by `name{label="value",...}` (labels sorted). */
export interface Scrape {
  text: string;
  samples: Map<string, number>;
  /** A sample's value, 0 when the series does not exist (a counter that never moved). */
  value(name: string, labels?: Record<string, string>): number;
  /** Every series of a metric, with its labels. */
  series(name: string): { labels: Record<string, string>; value: number }[];
}

/** The key of a series, labels in name order: `name{a="1",b="2"}`. */
export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const pairs = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.length === 0 ? name : `${name}{${pairs.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
}

function parseLabels(body: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, '$1');
  return labels;
}

/** Parses Prometheus text format 0.0.4 (what prom-client writes); comments skipped. */
export function parsePrometheus(text: string): Scrape {
  const samples = new Map<string, number>();
  const byName = new Map<string, { labels: Record<string, string>; value: number }[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const name = m[1] as string;
    const labels = parseLabels(m[2] ?? '');
    const value = Number(m[3]);
    samples.set(seriesKey(name, labels), value);
    byName.set(name, [...(byName.get(name) ?? []), { labels, value }]);
  }
  return {
    text,
    samples,
    value: (name, labels) => samples.get(seriesKey(name, labels)) ?? 0,
    series: (name) => byName.get(name) ?? [],
  };
}

/** GETs `/metrics` at `baseUrl` (no credentials: the route is public) and parses it. */
export async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${baseUrl}/metrics answered ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`GET ${baseUrl}/metrics answered content-type ${type}`);
  return parsePrometheus(await res.text());
}
