// Reporters: carry what other parts of pgwarden observe (refused credentials of the request
// layer) into the security-event log the monitor reads.
export {
  createTokenRejectionReporter,
  TOKEN_REJECTIONS_DROPPED,
  type TokenRejectionReporter,
  type TokenRejectionReporterOptions,
  type TokenRejectionReporterStats,
} from './token-rejections.js';
