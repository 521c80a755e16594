import type { CheckDefinition } from '../types.js';

export const cisChecks: CheckDefinition[] = [];
