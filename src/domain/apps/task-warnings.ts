/**
 * Acknowledging a task's warnings. The warnings are one JSON column that a running step may append
 * to, so the update only lands on the version it read and is retried otherwise.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { tasks } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'
import type { TaskRecord } from '../../tasks/types'

/** Marks every warning of the task acknowledged. */
export async function acknowledgeWarnings(env: Env, taskName: string): Promise<void> {
  const db = dbOf(env)
  for (let attempt = 0; attempt < 5; attempt++) {
    const row = await db
      .select({ warnings: tasks.warnings })
      .from(tasks)
      .where(eq(tasks.id, taskName))
      .get()
    if (!row) return
    const warnings = JSON.parse(row.warnings) as TaskRecord['warnings']
    if (warnings.every((warning) => warning.acknowledged)) return

    const acknowledged = warnings.map((warning) => ({ ...warning, acknowledged: true }))
    const changed = await db
      .update(tasks)
      .set({ warnings: JSON.stringify(acknowledged), updated: isoNow() })
      .where(and(eq(tasks.id, taskName), eq(tasks.warnings, row.warnings)))
      .returning({ id: tasks.id })
    if (changed.length) return
  }
  throw conflict(`the warnings of task ${taskName} keep changing; try again`)
}
