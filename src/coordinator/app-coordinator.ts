/**
 * One Durable Object per app, named `<orgName>/<appName>`: the only writer of the app's training
 * state and the only one that decides to start an `mkdxf` or `deploy` task, so concurrent traces
 * can never start two runs and publishes never overlap.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../env'

export class AppCoordinator extends DurableObject<Env> {
  /** Liveness check used by tests and the admin API. */
  async ping(): Promise<string> {
    return 'pong'
  }
}

/** The coordinator stub of an app. */
export function coordinatorOf(env: Env, orgName: string, appName: string) {
  return env.APP_COORDINATOR.get(env.APP_COORDINATOR.idFromName(`${orgName}/${appName}`))
}
