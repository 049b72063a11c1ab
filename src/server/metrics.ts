/**
 * Prometheus metrics, kept by hand: request counts and latency by route, bytes in and out,
 * and uploads in progress. Rendered in the text exposition format at /metrics.
 */
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  bytesOut = 0;
  /** Total blob bytes received, read from the upload service. */
  bytesReceived: () => number = () => 0;
  /** Extra lines from other parts (the pull-through cache's remote rate limits). */
  extra: () => string[] = () => [];

  constructor(private readonly uploadsInProgress: () => number) {}

  observe(route: string, method: string, status: number, seconds: number): void {
    const key = `route="${route}",method="${method}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const hkey = `route="${route}",method="${method}"`;
    let h = this.latency.get(hkey);
    if (!h) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.latency.set(hkey, h);
    }
    for (let i = 0; i < BUCKETS.length; i++)
      if (seconds <= (BUCKETS[i] as number)) h.counts[i] = (h.counts[i] ?? 0) + 1;
    h.sum += seconds;
    h.count += 1;
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP wharf_http_requests_total HTTP requests by route, method and status.');
    out.push('# TYPE wharf_http_requests_total counter');
    for (const [labels, n] of this.requests) out.push(`wharf_http_requests_total{${labels}} ${n}`);
    out.push('# HELP wharf_http_request_duration_seconds HTTP request latency by route and method.');
    out.push('# TYPE wharf_http_request_duration_seconds histogram');
    for (const [labels, h] of this.latency) {
      BUCKETS.forEach((le, i) => {
        out.push(`wharf_http_request_duration_seconds_bucket{${labels},le="${le}"} ${h.counts[i]}`);
      });
      out.push(`wharf_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      out.push(`wharf_http_request_duration_seconds_sum{${labels}} ${h.sum}`);
      out.push(`wharf_http_request_duration_seconds_count{${labels}} ${h.count}`);
    }
    out.push('# HELP wharf_bytes_received_total Blob bytes received in uploads.');
    out.push('# TYPE wharf_bytes_received_total counter');
    out.push(`wharf_bytes_received_total ${this.bytesReceived()}`);
    out.push('# HELP wharf_bytes_sent_total Response body bytes sent.');
    out.push('# TYPE wharf_bytes_sent_total counter');
    out.push(`wharf_bytes_sent_total ${this.bytesOut}`);
    out.push('# HELP wharf_uploads_in_progress Upload requests currently streaming.');
    out.push('# TYPE wharf_uploads_in_progress gauge');
    out.push(`wharf_uploads_in_progress ${this.uploadsInProgress()}`);
    out.push(...this.extra());
    return `${out.join('\n')}\n`;
  }
}

const routeLabels = new WeakMap<object, string>();

/** Tags a raw request with the API route it hit, for the metrics' `route` label. */
export function setRouteLabel(req: object, label: string): void {
  routeLabels.set(req, label);
}

export function routeLabel(req: object): string {
  return routeLabels.get(req) ?? 'other';
}
