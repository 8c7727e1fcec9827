// `amae <command> [args]`: dispatches to one module per command. Exit codes: 0 success, 2 bad
// input or usage (one line on stderr), 1 anything unexpected (with its stack, as it is a bug).

import { DatasetError } from '../data/dataset.js';
import { NiftiError } from '../data/nifti-header.js';
import { CaseError } from '../data/subject.js';
import { CheckpointError } from '../models/safetensors.js';
import { TrainingError } from '../train/errors.js';
import { demo, DEMO_USAGE } from './demo.js';
import { UsageError } from './errors.js';
import { finetune, FINETUNE_USAGE } from './finetune.js';
import { inspect, INSPECT_USAGE } from './inspect.js';
import { convert, CONVERT_USAGE, predict, PREDICT_USAGE } from './predict.js';
import { pretrain, PRETRAIN_USAGE } from './pretrain.js';
import { synth, SYNTH_USAGE } from './synth.js';

const COMMANDS: Record<string, { run: (args: string[]) => Promise<void>; usage: string }> = {
  inspect: { run: inspect, usage: INSPECT_USAGE },
  synth: { run: synth, usage: SYNTH_USAGE },
  pretrain: { run: pretrain, usage: PRETRAIN_USAGE },
  finetune: { run: finetune, usage: FINETUNE_USAGE },
  predict: { run: predict, usage: PREDICT_USAGE },
  convert: { run: convert, usage: CONVERT_USAGE },
  demo: { run: demo, usage: DEMO_USAGE },
};

// What the user gave that cannot be used — the command line, a data set, a file, a run's options
// — as opposed to a bug.
const INPUT_ERRORS = [UsageError, NiftiError, DatasetError, CaseError, CheckpointError, TrainingError];

const USAGE = `usage: amae <command> [options]

commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}`)
  .join('\n')}

amae <command> --help shows a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? process.stderr : process.stdout).write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`amae: unknown command '${name}'; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: amae ${command.usage}\n`);
    return 0;
  }
  try {
    await command.run(args);
    return 0;
  } catch (e) {
    if (INPUT_ERRORS.some((type) => e instanceof type)) {
      process.stderr.write(`amae ${name}: ${(e as Error).message.replace(/\s*\n\s*/g, ' ')}\n`);
      return 2;
    }
    process.stderr.write(`amae ${name}: unexpected error\n${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
