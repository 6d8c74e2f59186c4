/** Admin API basics: `ping`, `hello` (a test task through the queue) and reading any task. */
import { createRoute, z } from '@hono/zod-openapi'
import { success } from '../../http/envelope'
import { notFound } from '../../http/errors'
import { adminAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import { errorResponses, jsonBody, jsonResponse, successSchema } from '../../http/schemas'
import { submitTask } from '../../tasks/service'
import { loadTask, taskView } from '../../tasks/store'
import { versions } from '../../version'
import { taskSchema } from '../be/task-schema'

const adminHeaders = z.object({
  'x-rockit-admin-token': z.string().openapi({ description: 'HS256 admin JWT' }).optional(),
})

const ping = createRoute({
  method: 'post',
  path: '/adm/v1/ping',
  tags: ['Admin'],
  summary: 'Liveness of the instance',
  middleware: [adminAuth()] as const,
  request: { headers: adminHeaders },
  responses: {
    200: jsonResponse(successSchema({ version: z.string(), time: z.string() }), 'pong'),
    401: errorResponses[401],
  },
})

const hello = createRoute({
  method: 'post',
  path: '/adm/v1/hello',
  tags: ['Admin'],
  summary: 'Submit a test task through the task queue',
  middleware: [adminAuth()] as const,
  request: {
    headers: adminHeaders,
    body: jsonBody(
      z.strictObject({
        message: z.string().max(1000).default(''),
        maintenance: z.boolean().default(false),
      }),
    ),
  },
  responses: {
    202: jsonResponse(successSchema({ taskName: z.string() }), 'Task submitted'),
    400: errorResponses[400],
    401: errorResponses[401],
  },
})

const getTask = createRoute({
  method: 'get',
  path: '/adm/v1/tasks/{taskName}',
  tags: ['Admin'],
  summary: 'Any task of the instance',
  middleware: [adminAuth()] as const,
  request: { headers: adminHeaders, params: z.object({ taskName: z.string().max(100) }) },
  responses: {
    200: jsonResponse(successSchema({ task: taskSchema }), 'The task'),
    401: errorResponses[401],
    404: errorResponses[404],
  },
})

export const adminRoutes = createRouter()
  .openapi(ping, (c) =>
    c.json(success('pong', { version: versions.service, time: new Date().toISOString() }), 200),
  )
  .openapi(hello, async (c) => {
    const body = c.req.valid('json')
    const taskName = await submitTask(c.env, {
      type: 'hello',
      orgId: null,
      params: { message: body.message, maintenance: body.maintenance, admin: c.var.admin },
    })
    c.var.log.info('hello submitted', { taskName })
    return c.json(success('task submitted', { taskName }), 202)
  })
  .openapi(getTask, async (c) => {
    const task = await loadTask(c.env, c.req.valid('param').taskName)
    if (!task) throw notFound('task')
    return c.json(success('task', { task: taskView(task) }), 200)
  })
