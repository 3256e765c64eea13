/**
 * The project configuration: `mcbuild.config.yaml` at the project root, for settings every recipe of a project
 * shares and a team wants written down once — the remote cache and the worker queue. Validated against
 * schema/config.schema.json; a mistake is reported at its file, line and column like a recipe's.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { errnoCode, McbError } from '../errors.js';
import { formatPosition, SourceMap } from './source.js';
import { describeErrors, loadSchema, validator } from './validate.js';

export const CONFIG_FILE = 'mcbuild.config.yaml';

export interface ProjectConfig {
  /** The file it was read from, for messages; undefined when the project has none. */
  file?: string;
  remoteCache?: { url: string; mode?: 'read' | 'readwrite' | 'off'; timeoutSeconds?: number };
  workers?: { redis: string; queue?: string };
}

let schema: Record<string, unknown> | undefined;

/** The configuration schema, read once: validator() keeps its compiled form by the object. */
const configSchema = () => (schema ??= loadSchema('config.schema.json'));

/** The project's configuration, or {} when it has no mcbuild.config.yaml. */
export async function loadProjectConfig(projectRoot: string): Promise<ProjectConfig> {
  const file = join(projectRoot, CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return {};
    throw new McbError(
      'MCB_USAGE',
      `cannot read ${file} (${errnoCode(e) ?? String(e)}); fix its permissions or remove it.`,
    );
  }
  if (text.length > 64 * 1024)
    throw new McbError(
      'MCB_USAGE',
      `${file} is ${text.length} bytes; a project configuration is a few lines (remoteCache, workers). Remove what does not belong there.`,
    );
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const source = new SourceMap(file, doc, lines);
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    throw new McbError(
      'MCB_USAGE',
      `${formatPosition(source.at(problem.pos[0]))}: YAML error: ${problem.message.split('\n')[0]}. Fix the YAML at that line.`,
    );
  }
  const data = (doc.toJS({ maxAliasCount: 10 }) as unknown) ?? {};
  const validate = validator(configSchema());
  if (!validate(data)) {
    const messages = describeErrors(validate.errors ?? [], source, 'the project configuration');
    throw new McbError(
      'MCB_USAGE',
      messages.length === 1
        ? `${CONFIG_FILE}: ${messages[0]!}`
        : `${file} has ${messages.length} problems:\n${messages.map((m) => `  - ${m}`).join('\n')}`,
    );
  }
  return { file, ...(data as Omit<ProjectConfig, 'file'>) };
}
