import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { type Command, UsageError } from './command'
import { adminToken } from './commands/admin-token'
import { appCreate } from './commands/app-create'
import { buildPack } from './commands/build-pack'
import { buildUpload } from './commands/build-upload'
import { deploymentCreate } from './commands/deployment-create'
import { evalCommand } from './commands/eval'
import { imageFetch } from './commands/image-fetch'
import { orgCreate } from './commands/org-create'
import { traceRecord } from './commands/trace-record'
import { traceUpload } from './commands/trace-upload'
import { userCreate } from './commands/user-create'

/** Every command by its words; add one here and it gets `--help` and a line in the list. */
export const commands: Record<string, Command> = {
  'admin-token': adminToken,
  'org create': orgCreate,
  'user create': userCreate,
  'app create': appCreate,
  'deployment create': deploymentCreate,
  'build pack': buildPack,
  'build upload': buildUpload,
  'trace record': traceRecord,
  'trace upload': traceUpload,
  'image fetch': imageFetch,
  eval: evalCommand,
}

function commandList(prefix = ''): string {
  const lines = Object.entries(commands)
    .filter(([words]) => words.startsWith(prefix))
    .map(([words, command]) => `  rockit ${words.padEnd(17)} ${command.summary}`)
  return (
    `Usage: rockit <command> [options]\n\nCommands:\n${lines.join('\n')}\n\n` +
    'Run rockit <command> --help for its options.'
  )
}

/** Splits `argv` into a registered command and its arguments (longest words first). */
function findCommand(
  argv: string[],
): { words: string; command: Command; args: string[] } | undefined {
  for (let count = Math.min(argv.length, 3); count > 0; count--) {
    const words = argv.slice(0, count).join(' ')
    const command = commands[words]
    if (command) return { words, command, args: argv.slice(count) }
  }
  return undefined
}

/** Whether `--help` or `-h` comes before any `--` (after which arguments belong to a program). */
function wantsHelp(args: string[]): boolean {
  const end = args.indexOf('--')
  return (end < 0 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h')
}

/**
 * Runs the `rockit` CLI on `argv` (without `node` and the script) and resolves to the exit
 * code: 0 for success, 1 for a failure, 2 for a usage mistake, or the traced program's own.
 *
 * @example
 * process.exitCode = await main(['build', 'pack', 'game', '-o', 'game.tar'])
 */
export async function main(argv: string[]): Promise<number> {
  const found = findCommand(argv)
  if (!found) {
    if (argv.length === 0 || (wantsHelp(argv) && argv[0].startsWith('-'))) {
      process.stdout.write(`${commandList()}\n`)
      return 0
    }
    // `rockit trace` or `rockit trace --help`: show the commands that start with that word.
    const group = Object.keys(commands).some((words) => words.startsWith(`${argv[0]} `))
    if (group && wantsHelp(argv)) {
      process.stdout.write(`${commandList(`${argv[0]} `)}\n`)
      return 0
    }
    const problem = group ? `'${argv[0]}' needs one more word` : `unknown command '${argv[0]}'`
    process.stderr.write(`rockit: ${problem}\n\n${commandList(group ? `${argv[0]} ` : '')}\n`)
    return 2
  }

  const { words, command, args } = found
  if (wantsHelp(args)) {
    process.stdout.write(`${command.usage}\n`)
    return 0
  }
  try {
    return await command.run(args)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const code = (error as { code?: string }).code ?? ''
    if (error instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`rockit ${words}: ${message}\n\n${command.usage}\n`)
      return 2
    }
    process.stderr.write(`rockit ${words}: ${message}\n`)
    return 1
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1]
  if (!script) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}
