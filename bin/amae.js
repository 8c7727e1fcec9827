#!/usr/bin/env node
// The `amae` command. An installed package runs the compiled CLI from dist/; a source checkout,
// which has no dist/, runs the TypeScript through tsx (a devDependency).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/lib/cli/main.js', import.meta.url);
const cli = existsSync(compiled)
  ? await import(compiled.href)
  : await (await import('tsx/esm/api')).tsImport('../lib/cli/main.ts', import.meta.url);
process.exitCode = await cli.main(process.argv.slice(2));
