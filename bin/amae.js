#!/usr/bin/env node
// The `amae` command. A source checkout (lib/ present) runs the TypeScript through tsx, so edits
// take effect without a rebuild; an installed package, which ships only dist/, runs the compiled CLI.
import { existsSync } from 'node:fs';

const source = new URL('../lib/cli/main.ts', import.meta.url);
const cli = existsSync(source)
  ? await (await import('tsx/esm/api')).tsImport(source.href, import.meta.url)
  : await import(new URL('../dist/lib/cli/main.js', import.meta.url).href);
process.exitCode = await cli.main(process.argv.slice(2));
