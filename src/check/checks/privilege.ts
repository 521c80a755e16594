import type { CheckDefinition } from '../types.js';

export const privilegeChecks: CheckDefinition[] = [];
