/** A training run that cannot start or go on as asked: an option out of range, a device this build
 * lacks, a resume whose options differ from the checkpoint's. The user's to fix, not a bug, so
 * the CLI reports it in one line. */
export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}
