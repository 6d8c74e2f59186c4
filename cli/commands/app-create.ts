import { parseArgs } from 'node:util'
import type { ApiClient } from '../api-client'
import { type Command, UsageError } from '../command'
import { apiOptions, apiOptionsUsage, clientOf } from './api-options'
import { nameList, printAnswer } from './output'

/** The training settings an app may start with (API.md, Training). */
export interface TrainingSettings {
  nTracesReliable?: number
  minCoverage?: number
  maxCoverage?: number
  minTraceTimeSec?: number
  nProcessTracesMin?: number
  uploadTrace?: boolean
}

/** What `POST /be/v1/apps` takes. */
export interface AppCreateInput {
  name: string
  label: string
  maxBuilds?: number
  deployments?: string[]
  blockSize?: number
  training?: TrainingSettings
}

/** A created app and its trace key (shown once). */
export interface AppCreated {
  app: Record<string, unknown>
  traceKey: string
}

/**
 * Creates an app (`POST /be/v1/apps`, needs `apps` C).
 *
 * @example const { traceKey } = await createApp(client, { name: 'game', label: 'Game' })
 */
export async function createApp(client: ApiClient, input: AppCreateInput): Promise<AppCreated> {
  const { body } = await client.call<AppCreated>({
    method: 'POST',
    path: '/be/v1/apps',
    auth: 'user',
    json: input,
  })
  return body
}

const trainingNames = [
  'nTracesReliable',
  'minCoverage',
  'maxCoverage',
  'minTraceTimeSec',
  'nProcessTracesMin',
  'uploadTrace',
] as const

/** Parses `--training name=value` pairs into settings. */
export function parseTrainingSettings(pairs: string[]): TrainingSettings | undefined {
  if (pairs.length === 0) return undefined
  const settings: Record<string, number | boolean> = {}
  for (const pair of pairs.flatMap((value) => value.split(','))) {
    const [name, value] = pair.split('=').map((part) => part.trim())
    if (!trainingNames.includes(name as (typeof trainingNames)[number]) || value === undefined) {
      throw new UsageError(`--training takes name=value with a name of ${trainingNames.join(', ')}`)
    }
    if (name === 'uploadTrace') settings[name] = value === 'true'
    else {
      const number = Number(value)
      if (value === '' || !Number.isFinite(number)) {
        throw new UsageError(`--training ${name} needs a number`)
      }
      settings[name] = number
    }
  }
  return settings as TrainingSettings
}

const usage = `Usage: rockit app create <name> [options]

Creates an app and prints its trace key (shown once): launchers send it with their traces.

Options:
  --label <text>            default: the name
  --block-size <bytes>      a power of two, 4096..4194304 (default 65536)
  --max-builds <n>          builds kept, 1..50 (default 5)
  --deployments <a,b>       deployments to publish to (default: all of the org)
  --training <name=value>   a training setting, repeatable or comma separated:
                            nTracesReliable, minCoverage, maxCoverage, minTraceTimeSec,
                            nProcessTracesMin, uploadTrace
  --json                    print the API's answer as JSON
${apiOptionsUsage}`

/** `rockit app create`. */
export const appCreate: Command = {
  summary: 'create an app and print its trace key',
  usage,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...apiOptions,
        label: { type: 'string' },
        'block-size': { type: 'string' },
        'max-builds': { type: 'string' },
        deployments: { type: 'string' },
        training: { type: 'string', multiple: true },
        json: { type: 'boolean' },
      },
    })
    if (positionals.length !== 1) throw new UsageError('give exactly one app name')
    const name = positionals[0]
    const integer = (flag: string, value: string | undefined) => {
      if (value === undefined) return undefined
      const number = Number(value)
      if (!Number.isInteger(number)) throw new UsageError(`${flag} needs a whole number`)
      return number
    }
    const created = await createApp(clientOf(values), {
      name,
      label: values.label ?? name,
      blockSize: integer('--block-size', values['block-size']),
      maxBuilds: integer('--max-builds', values['max-builds']),
      deployments: nameList(values.deployments),
      training: parseTrainingSettings(values.training ?? []),
    })
    printAnswer(values.json, created as unknown as Record<string, unknown>, [
      `app ${name} created`,
      `trace key (shown once): ${created.traceKey}`,
    ])
    return 0
  },
}
