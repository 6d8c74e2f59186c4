/** One `rockit` command, registered by its words (`'build pack'`) in the table of cli/rockit.ts. */
export interface Command {
  /** One line for the list of commands. */
  summary: string
  /** Full help shown by `rockit <words> --help`. */
  usage: string
  /** Runs the command on the arguments after its words; resolves to the process exit code. */
  run(args: string[]): Promise<number>
}

/** A mistake in how the command was called: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}
