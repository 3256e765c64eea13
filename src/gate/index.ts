export { gate, rulesFor } from './gate.js';
export type { Check, Evidence, Rule, Verdict } from './check.js';
