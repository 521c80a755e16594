/**
 * The dead-man's switch (M-13), kept at this path for its importers; the parts live in
 * ./watchdog/ (the check, the stall test, the notifier with its retries and state).
 */
export * from './watchdog/index.js';
