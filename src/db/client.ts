/** The drizzle client over the D1 binding. D1 has no interactive transactions: use `db.batch`. */
import { drizzle } from 'drizzle-orm/d1'
import type { Env } from '../env'
import * as schema from './schema'

export type Database = ReturnType<typeof drizzle<typeof schema>>

const cache = new WeakMap<D1Database, Database>()

/** The drizzle client for this env (one per D1 binding object). */
export function dbOf(env: Pick<Env, 'DB'>): Database {
  let db = cache.get(env.DB)
  if (!db) {
    db = drizzle(env.DB, { schema })
    cache.set(env.DB, db)
  }
  return db
}

/** Now as an ISO 8601 UTC string, the format of every time column. */
export function isoNow(offsetSec = 0): string {
  return new Date(Date.now() + offsetSec * 1000).toISOString()
}
