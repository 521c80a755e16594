import type { CheckDefinition } from '../types.js';

export const pgwardenChecks: CheckDefinition[] = [];
