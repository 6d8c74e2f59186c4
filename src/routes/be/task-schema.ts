/** The task object of API.md, for responses and the OpenAPI document. */
import { z } from '@hono/zod-openapi'
import { TASK_STATES, TASK_TYPES } from '../../tasks/types'

export const taskSchema = z
  .object({
    taskName: z.string(),
    type: z.enum(TASK_TYPES),
    state: z.enum(TASK_STATES),
    appName: z.string().nullable(),
    buildName: z.string().nullable(),
    created: z.string(),
    started: z.string().nullable(),
    ended: z.string().nullable(),
    progress: z.number(),
    attempts: z.number().int(),
    warnings: z.array(
      z.object({ code: z.string(), message: z.string(), acknowledged: z.boolean() }),
    ),
    exception: z.record(z.string(), z.unknown()).nullable(),
    result: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('Task')
