// Command-line parsing shared by the commands: Node's parseArgs with its errors as usage errors,
// and option values as numbers (their ranges are the API's to check, so the CLI and a program
// calling it are held to the same rules).

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>>;

/** parseArgs, strict; a mistake becomes a UsageError ending with the command's usage. */
export function parseCommandLine<O extends Options>(args: string[], options: O, usage: string, allowPositionals = false): Parsed<O> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    // Node's parseArgs messages run on with advice about '--'; their first sentence says it all.
    const first = (e as Error).message.split('. ')[0];
    throw new UsageError(`${first}; usage: amae ${usage}`);
  }
}

/** A whole number from min to max, or a usage error naming the option. */
export function integer(name: string, text: string, min: number, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${text}'`);
  return value;
}

/** A finite decimal number (1e-4 and 0.5 alike), or a usage error naming the option. */
export function decimal(name: string, text: string): number {
  const value = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got '${text}'`);
  return value;
}
