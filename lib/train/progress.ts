// Progress of a training run: a bar (cli-progress) on a terminal, plain lines elsewhere (CI logs,
// files), where a redrawn bar would only be noise.
import cliProgress from 'cli-progress';

export interface Progress {
  update(step: number, fields: Record<string, string | number>): void;
  stop(): void;
}

export function createProgress(total: number, label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} | {info}`, stream, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      update: (step, fields) => bar.update(step, { info: format(fields) }),
      stop: () => bar.stop(),
    };
  }
  // Plain lines: about twenty per run, and always the last step.
  const every = Math.max(1, Math.round(total / 20));
  return {
    update: (step, fields) => {
      if (step % every === 0 || step === total) stream.write(`${label} ${step}/${total} ${format(fields)}\n`);
    },
    stop: () => {},
  };
}

function format(fields: Record<string, string | number>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2)) : v}`)
    .join(' ');
}
