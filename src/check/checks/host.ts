import type { CheckDefinition } from '../types.js';

export const hostChecks: CheckDefinition[] = [];
