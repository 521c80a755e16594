import { maskSinkUrl } from '../alerts/index.js';
import { SinkFailedError } from './sink.js';

/** Options of {@link postJson}. */
export interface PostJsonOptions {
  sink: string;
  url: string;
  body: string;
  headers?: Record<string, string>;
  timeoutMs: number;
}

function retryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Why a fetch failed, without its message (which may quote the URL). */
function networkReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: string; name?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `did not answer within ${timeoutMs} ms`;
  const code = e.cause?.code ?? e.cause?.name;
  return code ? `could not deliver (${code})` : 'could not deliver (network error)';
}

/**
 * POSTs a JSON body and classifies the answer: 2xx delivered; 408, 429 and 5xx, timeouts and
 * network errors retried; a redirect (never followed: it would send the signed alert elsewhere)
 * and other 4xx permanent. Errors name the URL's scheme and host only.
 *
 * @example
 * const status = await postJson({ sink: 'ops', url, body: JSON.stringify(x), timeoutMs: 10_000 });
 */
export async function postJson(options: PostJsonOptions): Promise<number> {
  const where = maskSinkUrl(options.url);
  let response: Response;
  try {
    response = await fetch(options.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'pgwarden-monitor', ...options.headers },
      body: options.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    // Drain the body so the connection is reused; what it says is not kept (it may echo secrets).
    await response.arrayBuffer();
  } catch (err) {
    throw new SinkFailedError(options.sink, `${where} ${networkReason(err, options.timeoutMs)}`);
  }
  const { status } = response;
  if (status >= 200 && status < 300) return status;
  const retryable = status === 408 || status === 429 || status >= 500;
  const what =
    status >= 300 && status < 400
      ? `answered a redirect (HTTP ${status}); point the URL at its final address`
      : `answered HTTP ${status}`;
  throw new SinkFailedError(options.sink, `${where} ${what}`, {
    permanent: !retryable,
    status,
    retryAfterMs: retryable ? retryAfter(response.headers.get('retry-after')) : undefined,
  });
}
