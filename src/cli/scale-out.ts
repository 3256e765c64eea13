/**
 * The build's --remote-cache, --remote-cache-mode, --workers and --queue, over the project's
 * mcbuild.config.yaml (options win). Resolves them into a RemoteCache and a connected StepQueue, or none.
 * A queue that cannot be reached is a warning (the build runs locally), as is a remote cache outage.
 */
import { parseRemoteUrl, RemoteCache, type RemoteMode } from '../cache/remote.js';
import { QueueUnavailable, StepQueue } from '../distributed/coordinator.js';
import { checkQueueName, DEFAULT_QUEUE, parseRedisUrl } from '../distributed/redis.js';
import { McbError } from '../errors.js';
import { CONFIG_FILE, loadProjectConfig, type ProjectConfig } from '../recipe/project-config.js';
import { findProjectRoot } from '../recipe/index.js';
import type { CommandContext, OptionSpec } from './command.js';

export const REMOTE_OPTIONS: Record<string, OptionSpec> = {
  'remote-cache': {
    type: 'string',
    value: 'URL',
    description: `shared cache over HTTP (Bazel layout /ac/, /cas/; nginx WebDAV, bazel-remote); default: remoteCache.url in ${CONFIG_FILE}`,
  },
  'remote-cache-mode': {
    type: 'string',
    value: 'M',
    description: 'read (download only) | readwrite (also upload what this build computes; default) | off',
  },
};

export const WORKER_OPTIONS: Record<string, OptionSpec> = {
  workers: {
    type: 'string',
    value: 'REDIS_URL',
    description: `compute steps on \`mcbuild worker\` processes through this Redis (needs a readwrite remote cache); default: workers.redis in ${CONFIG_FILE}; \`off\` to build here`,
  },
  queue: {
    type: 'string',
    value: 'NAME',
    description: `queue name shared with the workers (default: ${DEFAULT_QUEUE})`,
  },
  'worker-wait': {
    type: 'string',
    value: 'S',
    description: 'with no worker connected for S seconds, build the waiting steps here instead (default 120)',
  },
};

export interface ScaleOut {
  remote?: RemoteCache;
  workers?: StepQueue;
  close(): Promise<void>;
}

/** The remote cache the options and the project configuration (read once by the caller) name, or undefined. */
export function remoteCacheOption(
  ctx: CommandContext,
  config: ProjectConfig,
  warn: (message: string) => void,
): RemoteCache | undefined {
  const flagUrl = ctx.values['remote-cache'] as string | undefined;
  const flagMode = ctx.values['remote-cache-mode'] as string | undefined;
  if (flagMode !== undefined && !['read', 'readwrite', 'off'].includes(flagMode)) {
    throw new McbError(
      'MCB_USAGE',
      `--remote-cache-mode must be read, readwrite or off (got ${JSON.stringify(flagMode)}).`,
    );
  }
  // An explicit --remote-cache URL is a request to use it, even where the configuration turns it off.
  const configMode = flagUrl !== undefined && config.remoteCache?.mode === 'off' ? undefined : config.remoteCache?.mode;
  const mode = (flagMode ?? configMode ?? 'readwrite') as RemoteMode | 'off';
  const url = flagUrl ?? config.remoteCache?.url;
  if (mode === 'off') return undefined;
  if (url === undefined) {
    if (flagMode !== undefined)
      throw new McbError(
        'MCB_USAGE',
        `--remote-cache-mode ${flagMode} needs a remote cache: give --remote-cache URL, or set remoteCache.url in ${CONFIG_FILE} at the project root.`,
      );
    return undefined;
  }
  parseRemoteUrl(url, flagUrl !== undefined ? '--remote-cache' : `remoteCache.url in ${config.file}`);
  return new RemoteCache({
    url,
    mode,
    ...(config.remoteCache?.timeoutSeconds ? { timeoutMs: config.remoteCache.timeoutSeconds * 1000 } : {}),
    onWarning: warn,
  });
}

/** --remote-cache and --workers for a build, connected. close() must run when the build ends. */
export async function scaleOutOptions(
  ctx: CommandContext,
  recipeFile: string,
  warn: (message: string) => void,
): Promise<ScaleOut> {
  const root = findProjectRoot(recipeFile);
  const config = await loadProjectConfig(root);
  const remote = remoteCacheOption(ctx, config, warn);
  const flagWorkers = ctx.values.workers as string | undefined;
  // `--workers off` builds here although the configuration names workers.
  const redisText = flagWorkers === 'off' ? undefined : (flagWorkers ?? config.workers?.redis);
  const queueName = checkQueueName(
    (ctx.values.queue as string | undefined) ?? config.workers?.queue ?? DEFAULT_QUEUE,
    '--queue',
  );
  const local = { ...(remote ? { remote } : {}), close: async () => {} };
  if (redisText === undefined) {
    if (ctx.values.queue !== undefined && flagWorkers !== 'off')
      throw new McbError(
        'MCB_USAGE',
        `--queue names the workers' queue and needs --workers redis://host:6379 (or workers.redis in ${CONFIG_FILE}).`,
      );
    return local;
  }
  const where = flagWorkers !== undefined ? '--workers' : `workers.redis in ${config.file}`;
  const url = parseRedisUrl(redisText, where);
  const waitText = ctx.values['worker-wait'] as string | undefined;
  const noWorkerSeconds = waitText === undefined ? undefined : Number(waitText);
  if (
    noWorkerSeconds !== undefined &&
    !(Number.isFinite(noWorkerSeconds) && noWorkerSeconds > 0 && noWorkerSeconds <= 86_400)
  ) {
    throw new McbError(
      'MCB_USAGE',
      `--worker-wait must be a number of seconds from 1 to 86400 (got ${JSON.stringify(waitText)}).`,
    );
  }
  if (!remote || remote.mode !== 'readwrite') {
    // Workers from the configuration, with this build reading only (a fork's pull request) or not at all: it
    // builds here. Asked for on the command line, the combination is a mistake worth saying.
    if (flagWorkers === undefined) {
      warn(
        `${where} is ignored: workers deliver through the remote cache, which this build ${remote ? 'only reads' : 'does not use'}; building here`,
      );
      return local;
    }
    throw new McbError(
      'MCB_USAGE',
      `${where} needs a remote cache in readwrite mode: workers deliver their results through it and this build uploads the inputs they need. Add --remote-cache URL (the one the workers were started with)${remote ? ' and drop --remote-cache-mode read' : ''}.`,
    );
  }
  try {
    const workers = await StepQueue.connect({
      url,
      queue: queueName,
      onWarning: warn,
      ...(noWorkerSeconds === undefined ? {} : { noWorkerSeconds }),
    });
    return { remote, workers, close: () => workers.close() };
  } catch (e) {
    if (!(e instanceof QueueUnavailable)) throw e;
    warn(`${e.message}; this build runs here, with the remote cache`);
    return { remote, close: async () => {} };
  }
}
