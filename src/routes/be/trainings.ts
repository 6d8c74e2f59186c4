/**
 * Training (`trainings` permission): the settings and figures of every app (Training Infos),
 * one app's with its run history and load profile (Training Details), and changing settings.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { and, eq, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps } from '../../db/schema'
import { requireApp } from '../../domain/apps/find-app'
import { modifyTraining } from '../../domain/training/modify-training'
import {
  currentProfile,
  TRAINING_FIELDS,
  TRAINING_STATES,
  trainingInfo,
  trainingInfos,
  trainingRunsOf,
} from '../../domain/training/training-view'
import { page, success } from '../../http/envelope'
import { listOptions, listQuery, pageInMemory } from '../../http/list'
import { authorize, userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  nameSchema,
  pageSchema,
  successSchema,
} from '../../http/schemas'
import { trainingSettingsFields } from './app-schemas'

const trainingInfoSchema = z
  .object({
    appName: z.string(),
    state: z.enum(TRAINING_STATES),
    nTraces: z.number().int(),
    nNewTraces: z.number().int(),
    coverage: z.number().openapi({ description: 'Share of the build touched by traces, 0..1' }),
    traceTimeSec: z.number(),
    lastProcessed: z.string().nullable(),
    dxfName: z.string().nullable(),
    nTracesReliable: z.number().int(),
    minCoverage: z.number(),
    maxCoverage: z.number(),
    minTraceTimeSec: z.number(),
    nProcessTracesMin: z.number().int(),
    uploadTrace: z.boolean(),
  })
  .openapi('TrainingInfo')

const trainingRunSchema = z
  .object({
    taskName: z.string(),
    nTraces: z.number().int().openapi({ description: 'Traces the run used' }),
    coverage: z.number(),
    qualityBefore: z.unknown().openapi({
      description:
        'Measure of the image it started from: `{row, traces, folds, imageBytes, bandwidths}`; ' +
        '`traces` counts only the traces newer than that image when 10 or more were',
    }),
    qualityAfter: z.unknown().openapi({
      description: 'Measure of the candidate image, on the same traces as `qualityBefore`',
    }),
    deployed: z.boolean(),
    reason: z.string().openapi({ description: 'Why the candidate was or was not published' }),
    method: z
      .string()
      .nullable()
      .openapi({
        description:
          'Order the candidate was measured by: `tenth` (blocks timed once a tenth of the ' +
          'sessions read them), `first` (once any session read them) or `typical` (the ' +
          'blocks of the most typical half of the sessions first); null when not measured',
      }),
    created: z.string(),
  })
  .openapi('TrainingRun')

const trainingDetailSchema = trainingInfoSchema
  .extend({
    runs: z.array(trainingRunSchema),
    profile: z.unknown().openapi({ description: 'Load profile of the current image, or null' }),
  })
  .openapi('TrainingDetail')

const trainingListQuery = listQuery.extend({
  appName: z.string().max(50).optional().openapi({ description: 'Part of the app name' }),
  state: z.enum(TRAINING_STATES).optional(),
})

const TRAINING_LIST = {
  fields: TRAINING_FIELDS,
  order: ['appName', 'state', 'nTraces', 'nNewTraces', 'coverage', 'traceTimeSec', 'lastProcessed'],
} as const

const modifyTrainingBody = z
  .strictObject({ appName: nameSchema, ...trainingSettingsFields })
  .superRefine((body, ctx) => {
    const { minCoverage, maxCoverage } = body
    if (typeof minCoverage === 'number' && typeof maxCoverage === 'number') {
      if (minCoverage > maxCoverage) {
        ctx.addIssue({
          code: 'custom',
          path: ['minCoverage'],
          message: `must be <= maxCoverage (${minCoverage} > ${maxCoverage})`,
        })
      }
    }
  })
  .openapi('ModifyTraining')

const list = createRoute({
  method: 'get',
  path: '/be/v1/trainings',
  tags: ['Training'],
  summary: 'Training Infos: settings and figures of every app',
  middleware: [userAuth()] as const,
  request: { query: trainingListQuery },
  responses: {
    200: jsonResponse(pageSchema(trainingInfoSchema), 'A page of training infos'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
  },
})

const read = createRoute({
  method: 'get',
  path: '/be/v1/trainings/{appName}',
  tags: ['Training'],
  summary: 'Training Details: settings, figures, run history and load profile of one app',
  middleware: [userAuth()] as const,
  request: { params: z.object({ appName: nameSchema }) },
  responses: {
    200: jsonResponse(successSchema({ training: trainingDetailSchema }), 'The training'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
  },
})

const modify = createRoute({
  method: 'patch',
  path: '/be/v1/trainings',
  tags: ['Training'],
  summary: "Change an app's training settings",
  middleware: [userAuth()] as const,
  request: { body: jsonBody(modifyTrainingBody) },
  responses: {
    200: jsonResponse(
      successSchema({}),
      'Settings changed: {"status":"success","message":"app modified"}',
    ),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
    409: errorResponses[409],
  },
})

/** `appName` filter: a LIKE pattern with the wildcards of the input escaped. */
function containing(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`
}

export const trainingRoutes = createRouter()
  .openapi(list, async (c) => {
    const principal = authorize(c, 'trainings', 'read')
    const query = c.req.valid('query')
    const options = listOptions(query, TRAINING_LIST)
    if (!options.order.length) options.order = [{ field: 'appName', descending: false }]

    const filters = [eq(apps.orgId, principal.orgId)]
    if (query.appName) filters.push(sql`${apps.name} like ${containing(query.appName)} escape '\\'`)
    const rows = await dbOf(c.env)
      .select()
      .from(apps)
      .where(and(...filters))
      .all()
    const org = { id: principal.orgId, name: principal.orgName }
    const infos = (await trainingInfos(c.env, org, rows)).filter(
      (info) => !query.state || info.state === query.state,
    )
    const window = pageInMemory(infos, options)
    return c.json(page(window.items, window.total, options.offset, options.limit), 200)
  })
  .openapi(read, async (c) => {
    const principal = authorize(c, 'trainings', 'read')
    const app = await requireApp(c.env, principal.orgId, c.req.valid('param').appName)
    const org = { id: principal.orgId, name: principal.orgName }
    const training = {
      ...(await trainingInfo(c.env, org, app)),
      runs: await trainingRunsOf(c.env, app.id),
      profile: await currentProfile(c.env, app),
    }
    return c.json(success('training', { training }), 200)
  })
  .openapi(modify, async (c) => {
    const principal = authorize(c, 'trainings', 'update')
    const { appName, ...change } = c.req.valid('json')
    const app = await requireApp(c.env, principal.orgId, appName)
    const org = { id: principal.orgId, name: principal.orgName }
    await modifyTraining(c.env, org, app, change, c.var.log)
    c.var.log.info('training settings changed', { app: app.name, changed: Object.keys(change) })
    return c.json(success('app modified'), 200)
  })
