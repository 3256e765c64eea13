/**
 * Redis connections for BullMQ, from a redis:// (or rediss://) URL. BullMQ needs maxRetriesPerRequest: null
 * (its blocking commands must not be cut short); reconnection is bounded so that a Redis that stays gone ends
 * the connection ('end') instead of retrying forever: the coordinator then builds locally, a worker exits.
 */
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import { McbError } from '../errors.js';
import { redactUrl } from '../cache/remote.js';

const require = createRequire(import.meta.url);

export const DEFAULT_QUEUE = 'mcbuild';

export function parseRedisUrl(raw: string, where: string): URL {
  let url: URL;
  const text = redactUrl(raw); // for messages: a password never reaches a CI log
  try {
    url = new URL(raw);
  } catch {
    throw new McbError(
      'MCB_USAGE',
      `${where} ${JSON.stringify(text)} is not a URL; give the Redis server as redis://host:6379 (redis://:password@host:6379/0 with a password and database).`,
    );
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new McbError(
      'MCB_USAGE',
      `${where} ${JSON.stringify(text)} uses ${url.protocol}; give the Redis server that carries the queue as redis://host:6379 (rediss:// for TLS).`,
    );
  }
  return url;
}

/** Shown in messages: the URL without a password. */
export function shownRedis(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  return copy.href.replace(/\/$/, '');
}

export function checkQueueName(name: string, where: string): string {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name))
    throw new McbError(
      'MCB_USAGE',
      `${where} ${JSON.stringify(name)} is not a queue name; use letters, digits, '_', '.' and '-' (the coordinator and its workers must use the same one).`,
    );
  return name;
}

/** A connection that gives up after `giveUpMs` of failed reconnects (it emits 'end'). */
export function redisConnection(url: URL, opts: { giveUpMs?: number; connectTimeoutMs?: number } = {}): Redis {
  // Required here rather than imported with the module: only builds with workers connect, and loading ioredis
  // cost every command's start ~0.1 s.
  const { Redis } = require('ioredis') as typeof import('ioredis');
  const giveUpMs = opts.giveUpMs ?? 30_000;
  let failingSince: number | undefined;
  const redis = new Redis(url.href, {
    maxRetriesPerRequest: null,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    lazyConnect: true,
    retryStrategy: () => {
      failingSince ??= Date.now();
      return Date.now() - failingSince > giveUpMs ? null : 500;
    },
  });
  redis.on('ready', () => (failingSince = undefined));
  // Errors surface through the commands that fail and through 'end'; unhandled 'error' events would crash.
  redis.on('error', () => {});
  return redis;
}
