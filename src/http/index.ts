// The HTTP toolkit every pgwarden server is built on (the auth API, later the monitor and the
// dashboard): routing, JSON bodies, rate limiting, metrics and a server with /live /ready /metrics.
export { clientAddress, type ClientAddressOptions } from './client-address.js';
export {
  createHttpService,
  type HttpErrorEvent,
  type HttpEvent,
  type HttpRequestEvent,
  type HttpService,
  type HttpServiceOptions,
} from './http-server.js';
export { readJsonBody, type ReadJsonBodyOptions } from './json-body.js';
export {
  type Counter,
  defaultBuckets,
  type Gauge,
  type GaugeCollected,
  type Histogram,
  type LabelValues,
  MetricsRegistry,
} from './metrics.js';
export { type TakeResult, TokenBucketLimiter, type TokenBucketLimiterOptions } from './rate-limiter.js';
export { type Handler, type HttpResult, type RequestContext, type RouteMatch, Router } from './router.js';
export {
  defaultStatusFor,
  type ErrorResponse,
  errorResponse,
  HttpError,
  type HttpErrorOptions,
  securityHeaders,
  sendError,
  sendJson,
  sendText,
  type StatusFor,
} from './send.js';
