/**
 * `POST /be/v1/trigger` (`tasks` execute): rerun a failed task from where it failed, or process
 * an app's collected traces now.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { requireApp } from '../../domain/apps/find-app'
import { requestProcessing } from '../../domain/training/process'
import { success } from '../../http/envelope'
import { notFound } from '../../http/errors'
import { authorize, userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  nameSchema,
  successSchema,
} from '../../http/schemas'
import { retryTask } from '../../tasks/service'
import { loadTask } from '../../tasks/store'

const triggerBody = z
  .discriminatedUnion('type', [
    z
      .strictObject({ type: z.literal('retryTask'), taskName: z.string().min(1).max(100) })
      .openapi({ description: 'Rerun a failed task from the step that failed' }),
    z
      .strictObject({ type: z.literal('processTraces'), appName: nameSchema })
      .openapi({ description: "Process the app's collected traces now" }),
  ])
  .openapi('Trigger')

const trigger = createRoute({
  method: 'post',
  path: '/be/v1/trigger',
  tags: ['Triggers'],
  summary: 'Retry a failed task or process traces now',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(triggerBody) },
  responses: {
    202: jsonResponse(successSchema({ taskName: z.string() }), 'Work accepted'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
    409: errorResponses[409],
  },
})

export const triggerRoutes = createRouter().openapi(trigger, async (c) => {
  const principal = authorize(c, 'tasks', 'execute')
  const body = c.req.valid('json')

  if (body.type === 'retryTask') {
    const task = await loadTask(c.env, body.taskName)
    if (!task || task.orgId !== principal.orgId) throw notFound(`task ${body.taskName}`)
    await retryTask(c.env, task)
    c.var.log.info('task retried', { taskName: task.taskName, type: task.type })
    return c.json(success('task retried', { taskName: task.taskName }), 202)
  }

  const app = await requireApp(c.env, principal.orgId, body.appName)
  const taskName = await requestProcessing(
    c.env,
    { id: principal.orgId, name: principal.orgName },
    { id: app.id, name: app.name },
  )
  c.var.log.info('traces processing requested', { app: app.name, taskName })
  return c.json(success('traces processing', { taskName }), 202)
})
