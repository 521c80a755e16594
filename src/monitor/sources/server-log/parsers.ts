import { CsvLogParser } from './csv-log.js';
import { JsonLogParser } from './json-log.js';
import type { LogFormat, LogParser, LogParserOptions } from './log-record.js';
import { StderrLogParser } from './stderr-log.js';

/**
 * A fresh incremental parser for `format`.
 *
 * @example
 * const parser = createLogParser('csvlog', { startOffset: 4096 });
 */
export function createLogParser(format: LogFormat, options: LogParserOptions = {}): LogParser {
  switch (format) {
    case 'jsonlog':
      return new JsonLogParser(options);
    case 'csvlog':
      return new CsvLogParser(options);
    case 'stderr':
      return new StderrLogParser(options);
  }
}

/**
 * The file name extension PostgreSQL gives each format's log files.
 *
 * @example
 * logFileExtension.csvlog; // '.csv'
 */
export const logFileExtension: Readonly<Record<LogFormat, string>> = {
  jsonlog: '.json',
  csvlog: '.csv',
  stderr: '.log',
};
