/**
 * The build's --remote-cache, --remote-cache-mode, --workers and --queue, over the project's
 * mcbuild.config.yaml (options win). Resolves them into a RemoteCache and a connected StepQueue, or none.
 * A queue that cannot be reached is a warning (the build runs locally), as is a remote cache outage.
 */
import { parseRemoteUrl, RemoteCache, type RemoteMode } from '../cache/remote.js';
import { QueueUnavailable, StepQueue } from '../distributed/coordinator.js';
import { checkQueueName, DEFAULT_QUEUE, parseRedisUrl } from '../distributed/redis.js';
import { McbError } from '../errors.js';
import { CONFIG_FILE, loadProjectConfig } from '../recipe/project-config.js';
import { findProjectRoot } from '../recipe/index.js';
import type { CommandContext, OptionSpec } from './command.js';

export const REMOTE_OPTIONS: Record<string, OptionSpec> = {
  'remote-cache': { type: 'string', value: 'URL', description: `shared cache over HTTP (Bazel layout /ac/, /cas/; nginx WebDAV, bazel-remote); default: remoteCache.url in ${CONFIG_FILE}` },
  'remote-cache-mode': { type: 'string', value: 'M', description: 'read (download only) | readwrite (also upload what this build computes; default) | off' },
};

export const WORKER_OPTIONS: Record<string, OptionSpec> = {
  workers: { type: 'string', value: 'REDIS_URL', description: `compute steps on \`mcbuild worker\` processes through this Redis (needs a readwrite remote cache); default: workers.redis in ${CONFIG_FILE}` },
  queue: { type: 'string', value: 'NAME', description: `queue name shared with the workers (default: ${DEFAULT_QUEUE})` },
};

export interface ScaleOut {
  remote?: RemoteCache;
  workers?: StepQueue;
  close(): Promise<void>;
}

/** The remote cache the options and the project configuration name, or undefined. */
export async function remoteCacheOption(ctx: CommandContext, projectRoot: string, warn: (message: string) => void): Promise<RemoteCache | undefined> {
  const config = await loadProjectConfig(projectRoot);
  const flagUrl = ctx.values['remote-cache'] as string | undefined;
  const flagMode = ctx.values['remote-cache-mode'] as string | undefined;
  if (flagMode !== undefined && !['read', 'readwrite', 'off'].includes(flagMode)) {
    throw new McbError('MCB_USAGE', `--remote-cache-mode must be read, readwrite or off (got ${JSON.stringify(flagMode)}).`);
  }
  const mode = (flagMode ?? config.remoteCache?.mode ?? 'readwrite') as RemoteMode | 'off';
  const url = flagUrl ?? config.remoteCache?.url;
  if (mode === 'off') return undefined;
  if (url === undefined) {
    if (flagMode !== undefined) throw new McbError('MCB_USAGE', `--remote-cache-mode ${flagMode} needs a remote cache: give --remote-cache URL, or set remoteCache.url in ${CONFIG_FILE} at the project root.`);
    return undefined;
  }
  parseRemoteUrl(url, flagUrl !== undefined ? '--remote-cache' : `remoteCache.url in ${config.file}`);
  return new RemoteCache({ url, mode, ...(config.remoteCache?.timeoutSeconds ? { timeoutMs: config.remoteCache.timeoutSeconds * 1000 } : {}), onWarning: warn });
}

/** --remote-cache and --workers for a build, connected. close() must run when the build ends. */
export async function scaleOutOptions(ctx: CommandContext, recipeFile: string, warn: (message: string) => void): Promise<ScaleOut> {
  const root = findProjectRoot(recipeFile);
  const remote = await remoteCacheOption(ctx, root, warn);
  const config = await loadProjectConfig(root);
  const flagWorkers = ctx.values.workers as string | undefined;
  const redisText = flagWorkers ?? config.workers?.redis;
  const queueName = checkQueueName((ctx.values.queue as string | undefined) ?? config.workers?.queue ?? DEFAULT_QUEUE, '--queue');
  if (redisText === undefined) {
    if (ctx.values.queue !== undefined) throw new McbError('MCB_USAGE', `--queue names the workers' queue and needs --workers redis://host:6379 (or workers.redis in ${CONFIG_FILE}).`);
    return { ...(remote ? { remote } : {}), close: async () => {} };
  }
  const where = flagWorkers !== undefined ? '--workers' : `workers.redis in ${config.file}`;
  const url = parseRedisUrl(redisText, where);
  if (!remote || remote.mode !== 'readwrite') {
    throw new McbError(
      'MCB_USAGE',
      `${where} needs a remote cache in readwrite mode: workers deliver their results through it and this build uploads the inputs they need. Add --remote-cache URL (the one the workers were started with)${remote ? ' and drop --remote-cache-mode read' : ''}.`,
    );
  }
  try {
    const workers = await StepQueue.connect({ url, queue: queueName, onWarning: warn });
    return { remote, workers, close: () => workers.close() };
  } catch (e) {
    if (!(e instanceof QueueUnavailable)) throw e;
    warn(`${e.message}; this build runs here, with the remote cache`);
    return { remote, close: async () => {} };
  }
}
