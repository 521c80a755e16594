import type { CheckDefinition } from '../types.js';

export const rlsChecks: CheckDefinition[] = [];
