import { McbError } from '../errors.js';

/** Refuses a model the topology cannot read or an edit it cannot make; exit 2 like any bad model. */
export class TopologyError extends McbError {
  constructor(message: string) {
    super('MCB_MODEL_INVALID', message);
    this.name = 'TopologyError';
  }
}
