/**
 * Apps (`apps` permission): create with a trace key, list, read, modify (including trace-key
 * rotation and fewer kept builds), delete with everything stored for the app.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { and, eq, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps } from '../../db/schema'
import { appStatuses, appView, appViews } from '../../domain/apps/app-view'
import { createApp } from '../../domain/apps/create-app'
import { deleteApp } from '../../domain/apps/delete-app'
import { requireApp } from '../../domain/apps/find-app'
import { modifyApp } from '../../domain/apps/modify-app'
import { page, success } from '../../http/envelope'
import { listOptions, pageInMemory, pickFields } from '../../http/list'
import { authorize, userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  pageSchema,
  successSchema,
} from '../../http/schemas'
import {
  APP_LIST,
  appFieldsQuery,
  appListQuery,
  appNameParam,
  appSchema,
  createAppBody,
  modifyAppBody,
} from './app-schemas'

const traceKeyField = z
  .string()
  .openapi({ description: 'The trace key of the app for game clients, shown once' })

const create = createRoute({
  method: 'post',
  path: '/be/v1/apps',
  tags: ['Apps'],
  summary: 'Create an app; answers its trace key once',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(createAppBody) },
  responses: {
    201: jsonResponse(successSchema({ app: appSchema, traceKey: traceKeyField }), 'App created'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    409: errorResponses[409],
  },
})

const list = createRoute({
  method: 'get',
  path: '/be/v1/apps',
  tags: ['Apps'],
  summary: 'List the apps of the org',
  middleware: [userAuth()] as const,
  request: { query: appListQuery },
  responses: {
    200: jsonResponse(pageSchema(appSchema), 'A page of apps'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
  },
})

const read = createRoute({
  method: 'get',
  path: '/be/v1/apps/{appName}',
  tags: ['Apps'],
  summary: 'One app',
  middleware: [userAuth()] as const,
  request: { params: appNameParam, query: appFieldsQuery },
  responses: {
    200: jsonResponse(successSchema({ app: appSchema.partial() }), 'The app'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
  },
})

const modify = createRoute({
  method: 'patch',
  path: '/be/v1/apps',
  tags: ['Apps'],
  summary: 'Modify an app (label, maxBuilds, deployments, trace key)',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(modifyAppBody) },
  responses: {
    200: jsonResponse(
      successSchema({ app: appSchema, traceKey: traceKeyField.optional() }),
      'App modified',
    ),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
  },
})

const remove = createRoute({
  method: 'delete',
  path: '/be/v1/apps/{appName}',
  tags: ['Apps'],
  summary: 'Delete an app with its builds, traces, images and patches',
  middleware: [userAuth()] as const,
  request: { params: appNameParam },
  responses: {
    200: jsonResponse(
      successSchema({
        taskName: z
          .string()
          .optional()
          .openapi({ description: 'The prune task removing what could not be removed at once' }),
      }),
      'App deleted',
    ),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
    409: errorResponses[409],
  },
})

/** `name` filter: a LIKE pattern with the wildcards of the input escaped. */
function containing(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`
}

export const appRoutes = createRouter()
  .openapi(create, async (c) => {
    const principal = authorize(c, 'apps', 'create')
    const body = c.req.valid('json')
    const { app, traceKey } = await createApp(c.env, principal.orgId, body)
    c.var.log.info('app created', { app: app.name, blockSize: app.blockSize })
    return c.json(success('app created', { app: await appView(c.env, app), traceKey }), 201)
  })
  .openapi(list, async (c) => {
    const principal = authorize(c, 'apps', 'read')
    const query = c.req.valid('query')
    const options = listOptions(query, APP_LIST)
    if (!options.order.length) options.order = [{ field: 'name', descending: false }]

    const filters = [eq(apps.orgId, principal.orgId)]
    if (query.name) filters.push(sql`${apps.name} like ${containing(query.name)} escape '\\'`)
    const rows = await dbOf(c.env)
      .select()
      .from(apps)
      .where(and(...filters))
      .all()
    const statuses = await appStatuses(c.env, rows)
    const matching = rows.filter(
      (row) => !query.state || statuses.get(row.id)?.state === query.state,
    )

    const window = pageInMemory(
      matching.map((row) => ({ name: row.name, created: row.created, updated: row.updated, row })),
      { ...options, fields: undefined },
    )
    const views = await appViews(
      c.env,
      window.items.map((item) => item.row!),
      statuses,
    )
    const items = views.map((view) => pickFields(view, options.fields))
    return c.json(page(items, window.total, options.offset, options.limit), 200)
  })
  .openapi(read, async (c) => {
    const principal = authorize(c, 'apps', 'read')
    const { fields } = listOptions(
      { ...c.req.valid('query'), offset: 0, limit: 1 },
      { fields: APP_LIST.fields, order: [] },
    )
    const row = await requireApp(c.env, principal.orgId, c.req.valid('param').appName)
    return c.json(success('app', { app: pickFields(await appView(c.env, row), fields) }), 200)
  })
  .openapi(modify, async (c) => {
    const principal = authorize(c, 'apps', 'update')
    const { name, ...change } = c.req.valid('json')
    const row = await requireApp(c.env, principal.orgId, name)
    const { app, traceKey, evicted } = await modifyApp(c.env, row, change, c.var.log)
    c.var.log.info('app modified', {
      app: app.name,
      changed: Object.keys(change),
      evictedBuilds: evicted,
    })
    const view = await appView(c.env, app)
    return c.json(success('app modified', traceKey ? { app: view, traceKey } : { app: view }), 200)
  })
  .openapi(remove, async (c) => {
    const principal = authorize(c, 'apps', 'delete')
    const row = await requireApp(c.env, principal.orgId, c.req.valid('param').appName)
    const { objectsDeleted, pruneTaskName } = await deleteApp(c.env, row)
    c.var.log.info('app deleted', { app: row.name, objectsDeleted, pruneTaskName })
    return c.json(success('app deleted', pruneTaskName ? { taskName: pruneTaskName } : {}), 200)
  })
