/**
 * `POST /be/v1/builds` (needs `apps` update): a new build of an app, downloaded from `url` (202)
 * or uploaded by the client to the returned single-use `uploadUrl` (201). Both answers name the
 * build's `dltar` task.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { BUILD_STATES } from '../../domain/builds/build-view'
import { createBuild } from '../../domain/builds/create-build'
import { success } from '../../http/envelope'
import { authorize, userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  nameSchema,
  successSchema,
} from '../../http/schemas'

/** Build names: 1 to 100 of letters, digits, `_`, `-`, `.`, starting with a letter or digit. */
export const buildNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/,
    'must be 1 to 100 letters, digits, _, - or ., starting with a letter or digit',
  )
  .openapi({ example: 'build-0001' })

/** Two 512-byte zero blocks end every tar, so no tar is smaller. */
const TAR_MIN_BYTES = 1024

const createBuildBody = z
  .strictObject({
    appName: nameSchema,
    buildName: buildNameSchema.optional().openapi({ description: 'Default `build-<buildId>`' }),
    url: z
      .string()
      .max(4096)
      .optional()
      .openapi({ description: 'http(s) URL the service downloads the tar from' }),
    size: z
      .number()
      .int()
      .min(TAR_MIN_BYTES, `a tar has at least ${TAR_MIN_BYTES} bytes (its end-of-archive blocks)`)
      .optional()
      .openapi({ description: 'Size of the tar in bytes; checked when given' }),
  })
  .openapi('CreateBuild')

export const buildSchema = z
  .object({
    buildId: z.number().int(),
    buildName: z.string(),
    appName: z.string(),
    state: z.enum(BUILD_STATES),
    sizeBytes: z.number().int(),
    files: z.number().int(),
    blocks: z.number().int(),
    blockSize: z.number().int(),
    dxfName: z.string().nullable(),
    created: z.string(),
  })
  .openapi('Build')

const create = createRoute({
  method: 'post',
  path: '/be/v1/builds',
  tags: ['Builds'],
  summary: 'Create a build: download it from a URL, or get a URL to upload it to',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(createBuildBody) },
  responses: {
    201: jsonResponse(
      successSchema({
        build: buildSchema,
        taskName: z.string().openapi({ description: 'The dltar task, waiting for the upload' }),
        uploadUrl: z.string().openapi({ description: 'PUT the tar here: single use, absolute' }),
        expires: z.string(),
      }),
      'Build created; upload its tar to `uploadUrl`',
    ),
    202: jsonResponse(
      successSchema({
        build: buildSchema,
        taskName: z.string().openapi({ description: 'The dltar task downloading the tar' }),
      }),
      'Build created; its tar is being downloaded',
    ),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
    409: errorResponses[409],
    413: errorResponses[413],
  },
})

export const buildRoutes = createRouter().openapi(create, async (c) => {
  const principal = authorize(c, 'apps', 'update')
  const body = c.req.valid('json')
  const created = await createBuild(c.env, principal.orgId, body, new URL(c.req.url).origin)
  c.var.log.info('build created', {
    app: body.appName,
    buildId: created.build.buildId,
    taskName: created.taskName,
    download: body.url !== undefined,
  })
  if (created.uploadUrl && created.expires) {
    const { build, taskName, uploadUrl, expires } = created
    return c.json(success('build created', { build, taskName, uploadUrl, expires }), 201)
  }
  const { build, taskName } = created
  return c.json(success('build submitted', { build, taskName }), 202)
})
