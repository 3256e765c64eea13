import { McbError } from '../errors.js';
import type { CommandContext } from './command.js';

export async function runWatch(_ctx: CommandContext): Promise<number> {
  throw new McbError('MCB_USAGE', 'watch mode is not available yet.');
}
