export { type DemoCheck, type DemoSection, section } from './report.js';
export { type DemoOptions, runDemo } from './run-demo.js';
