/** A command line that cannot be run as given (unknown option, missing argument). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
