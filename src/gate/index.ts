export { gate, type Check, type Verdict } from './gate.js';
