/**
 * The SOC dashboard: a single page with its JSON API, served by the monitor's HTTP service, with
 * logins through pgwarden's own AuthService (roles security_admin and auditor).
 *
 * @example
 * import { createDashboard } from './dashboard/index.js';
 * const dashboard = createDashboard({ connection: pool, auth, secureCookies: true });
 * dashboard.mount(router);
 */
export { type Dashboard, type DashboardOptions, createDashboard } from './dashboard.js';
export { dashboardCsp } from './dashboard-assets.js';
export type { DashboardUser } from './dashboard-auth.js';
export { dashboardRole } from './dashboard-roles.js';
export type { DashboardRole } from './dashboard-session.js';
export type { AlertDetail, AlertStatus, AlertView, EvidenceView, SecurityEventView } from './alert-queries.js';
export type { DashboardLiveStats, Overview, ScanPoint } from './overview-queries.js';
export type { RiskUserView, TimelineItem, TimelinePage } from './timeline-queries.js';
