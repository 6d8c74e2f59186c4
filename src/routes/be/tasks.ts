/**
 * Tasks of the caller's org (`tasks` permission): list with filters (paged in SQL, since tasks
 * only grow), read one, acknowledge its warnings or expire a task waiting for an upload.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, count, desc, eq, gt, lt, type SQL, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { tasks } from '../../db/schema'
import { acknowledgeWarnings } from '../../domain/apps/task-warnings'
import { expireWithUpload } from '../../domain/apps/upload-expiry'
import type { AppContext } from '../../http/context'
import { page, success } from '../../http/envelope'
import { invalidParam, notFound } from '../../http/errors'
import { listOptions, listQuery, pickFields } from '../../http/list'
import { authorize, userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  pageSchema,
  successSchema,
} from '../../http/schemas'
import { loadTask, taskView, toRecord } from '../../tasks/store'
import { TASK_STATES, TASK_TYPES, type TaskRecord } from '../../tasks/types'
import { taskSchema } from './task-schema'

const TASK_FIELDS = Object.keys(taskSchema.shape)
const ORDER_COLUMNS = {
  created: tasks.created,
  type: tasks.type,
  state: tasks.state,
  appName: tasks.appName,
} as const

const instant = z
  .string()
  .max(40)
  .refine((text) => !Number.isNaN(Date.parse(text)), 'must be an ISO 8601 date or time')
  .openapi({ example: '2026-01-31T12:00:00Z' })

const taskListQuery = listQuery.extend({
  appName: z.string().max(50).optional().openapi({ description: 'Part of the app name' }),
  type: z.enum(TASK_TYPES).optional(),
  state: z.enum(TASK_STATES).optional(),
  createdAfter: instant.optional().openapi({ description: 'Created strictly after this time' }),
  createdBefore: instant.optional().openapi({ description: 'Created strictly before this time' }),
})

const taskNameSchema = z.string().min(1).max(100)

const list = createRoute({
  method: 'get',
  path: '/be/v1/tasks',
  tags: ['Tasks'],
  summary: 'List the tasks of the org (newest first unless ordered)',
  middleware: [userAuth()] as const,
  request: { query: taskListQuery },
  responses: {
    200: jsonResponse(pageSchema(taskSchema), 'A page of tasks'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
  },
})

const read = createRoute({
  method: 'get',
  path: '/be/v1/tasks/{taskName}',
  tags: ['Tasks'],
  summary: 'One task of the org',
  middleware: [userAuth()] as const,
  request: { params: z.object({ taskName: taskNameSchema }) },
  responses: {
    200: jsonResponse(successSchema({ task: taskSchema }), 'The task'),
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
  },
})

const modify = createRoute({
  method: 'patch',
  path: '/be/v1/tasks',
  tags: ['Tasks'],
  summary: 'Acknowledge the warnings of a task, or expire a task waiting for an upload',
  middleware: [userAuth()] as const,
  request: {
    body: jsonBody(
      z
        .strictObject({
          taskName: taskNameSchema,
          acknowledge: z.boolean().optional().openapi({ description: 'Mark every warning read' }),
          expire: z.boolean().optional().openapi({ description: 'End a task still submitted' }),
        })
        .openapi('ModifyTask'),
    ),
  },
  responses: {
    200: jsonResponse(successSchema({ task: taskSchema }), 'Task modified'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
    409: errorResponses[409],
  },
})

/** The task `taskName` of the caller's org; another org's task is not found. */
async function requireTask(c: AppContext, orgId: string, taskName: string): Promise<TaskRecord> {
  const task = await loadTask(c.env, taskName)
  if (!task || task.orgId !== orgId) throw notFound(`task ${taskName}`)
  return task
}

function containing(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`
}

export const taskRoutes = createRouter()
  .openapi(list, async (c) => {
    const principal = authorize(c, 'tasks', 'read')
    const query = c.req.valid('query')
    const options = listOptions(query, {
      fields: TASK_FIELDS,
      order: Object.keys(ORDER_COLUMNS),
    })

    const filters: SQL[] = [eq(tasks.orgId, principal.orgId)]
    if (query.appName) {
      filters.push(sql`${tasks.appName} like ${containing(query.appName)} escape '\\'`)
    }
    if (query.type) filters.push(eq(tasks.type, query.type))
    if (query.state) filters.push(eq(tasks.state, query.state))
    if (query.createdAfter) {
      filters.push(gt(tasks.created, new Date(query.createdAfter).toISOString()))
    }
    if (query.createdBefore) {
      filters.push(lt(tasks.created, new Date(query.createdBefore).toISOString()))
    }
    const where = and(...filters)

    const order = options.order.length ? options.order : [{ field: 'created', descending: true }]
    const orderBy = order.map(({ field, descending }) => {
      const column = ORDER_COLUMNS[field as keyof typeof ORDER_COLUMNS]
      return descending ? desc(column) : asc(column)
    })
    orderBy.push(order[0].descending ? desc(tasks.id) : asc(tasks.id))

    const db = dbOf(c.env)
    const [{ total }] = await db.select({ total: count() }).from(tasks).where(where).all()
    const rows = await db
      .select()
      .from(tasks)
      .where(where)
      .orderBy(...orderBy)
      .limit(options.limit)
      .offset(options.offset)
      .all()
    const items = rows.map((row) => pickFields(taskView(toRecord(row)), options.fields))
    return c.json(page(items, total, options.offset, options.limit), 200)
  })
  .openapi(read, async (c) => {
    const principal = authorize(c, 'tasks', 'read')
    const task = await requireTask(c, principal.orgId, c.req.valid('param').taskName)
    return c.json(success('task', { task: taskView(task) }), 200)
  })
  .openapi(modify, async (c) => {
    const principal = authorize(c, 'tasks', 'update')
    const body = c.req.valid('json')
    if (!body.acknowledge && !body.expire) {
      throw invalidParam([
        { field: 'acknowledge', reason: 'send acknowledge: true or expire: true' },
      ])
    }
    const task = await requireTask(c, principal.orgId, body.taskName)

    if (body.expire) await expireWithUpload(c.env, task)
    if (body.acknowledge) await acknowledgeWarnings(c.env, task.taskName)
    c.var.log.info('task modified', {
      taskName: task.taskName,
      acknowledge: body.acknowledge ?? false,
      expire: body.expire ?? false,
    })
    const modified = (await loadTask(c.env, task.taskName)) as TaskRecord
    return c.json(success('task modified', { task: taskView(modified) }), 200)
  })
