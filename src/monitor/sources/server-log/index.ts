/**
 * The server-log source of the security monitor: parsers for PostgreSQL's jsonlog, csvlog and
 * stderr logs, the classification of a record into a monitor event (`pg.*` types, attack
 * categories, secrets masked), and two followers with saved positions: ServerLogTailer (a log
 * directory on this host) and RemoteLogReader (the same over SQL).
 *
 * @example
 * import { ServerLogTailer, recommendedLogLinePrefix } from './sources/server-log/index.js';
 */
export { type CategoryInput, type LogCategory, logCategory } from './categories.js';
export { classifyLogRecord } from './classify.js';
export { CsvLogParser } from './csv-log.js';
export { JsonLogParser } from './json-log.js';
export { fileMatcher } from './local-log-files.js';
export type { LogFile, LogFileAccess } from './log-follower.js';
export {
  type LogFormat,
  type LogInjectionReason,
  type LogParser,
  type LogParserOptions,
  type LogRecord,
  LogTimestampParser,
} from './log-record.js';
export type { LogSourceOptions } from './log-source.js';
export { ServerLogTailer, type ServerLogTailerOptions } from './log-tailer.js';
export { type MaskedText, maskSecrets, scrubSecrets } from './mask-secrets.js';
export { createLogParser, logFileExtension } from './parsers.js';
export { type PgauditEntry, parsePgauditMessage } from './pgaudit.js';
export { RemoteLogReader, type RemoteLogReaderOptions } from './remote-log.js';
export type { SavedFile, SavedLogPosition } from './saved-position.js';
export { recommendedLogLinePrefix, StderrLogParser } from './stderr-log.js';
