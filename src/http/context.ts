/** The Hono environment of every route: bindings plus what middleware puts on the context. */
import type { Context } from 'hono'
import type { Principal } from '../domain/auth/principal'
import type { Env } from '../env'
import type { Logger } from './log'

export interface AppVariables {
  requestId: string
  log: Logger
  /** The authenticated user, set by `userAuth`. */
  principal: Principal
  /** The operator's name, set by `adminAuth` (or by `userOrAdminAuth` for an operator). */
  admin: string | undefined
}

export interface AppEnv {
  Bindings: Env
  Variables: AppVariables
}

export type AppContext = Context<AppEnv>
