/**
 * WAL capture of the row-change audit trail: setup, one capture pass, and the parts of the
 * pgoutput protocol it reads.
 *
 * @example
 * import { setupWalCapture, captureWal } from 'pgwarden/audit';
 */
export {
  captureWal,
  setupWalCapture,
  walCaptureSlot,
  WAL_PUBLICATIONS,
  type WalCaptureOptions,
  type WalCaptureResult,
  type WalSetupResult,
} from './wal-capture.js';
export { startWalCaptureService, type CaptureService, type CaptureServiceOptions } from './service.js';
export { formatLsn, parseLsn, parsePgoutput, type PgoutputMessage, type Relation } from './pgoutput.js';
