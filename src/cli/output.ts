import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

/**
 * Where the CLI writes: results (tables, JSON) to stdout, progress and diagnostics to stderr, so
 * `mcbuild plan --json | jq` always reads clean JSON. Colour follows NO_COLOR / FORCE_COLOR, else the terminal.
 */
export interface Output {
  readonly color: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly json: boolean;
  /** A result line or block on stdout. */
  result(text: string): void;
  /** A machine-readable result on stdout. */
  jsonResult(value: unknown): void;
  /** Progress and notes on stderr; silent with --quiet or --json. */
  info(text: string): void;
  /** Only with --verbose. */
  debug(text: string): void;
  /** A plain function (no `this`): commands hand it to the renderers. */
  style: (style: Style, text: string) => string;
}

export function colorEnabled(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return isTTY;
}

export function makeOutput(opts: { quiet: boolean; verbose: boolean; json: boolean }): Output {
  const color = colorEnabled(process.env, process.stdout.isTTY === true);
  const silent = opts.quiet || opts.json;
  return {
    color,
    ...opts,
    result: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    jsonResult: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    info: (text) => {
      if (!silent) process.stderr.write(`${text}\n`);
    },
    debug: (text) => {
      if (opts.verbose && !opts.json) process.stderr.write(`${text}\n`);
    },
    // styleText would colour even when output is piped: decide here, once.
    style: (style, text) => (color ? styleText(style, text) : text),
  };
}
