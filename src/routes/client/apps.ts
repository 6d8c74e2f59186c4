/**
 * `GET /client/v1/apps/{orgName}/{appName}` (trace key): what a launcher needs to start the app,
 * the current image's depot URLs, size and SHA-256, and its URLs on the app's CDNs, answered flat
 * as API.md section 6 writes it.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { currentImage } from '../../domain/apps/current-image'
import { originUrls } from '../../domain/apps/origins'
import { settingsOf } from '../../env'
import { success } from '../../http/envelope'
import { ApiError } from '../../http/errors'
import { createRouter } from '../../http/router'
import { errorResponses, jsonResponse, successSchema } from '../../http/schemas'
import { publicImageDir } from '../../storage/keys'
import { requireTraceKey, traceKeyHeaders } from './trace-key'

const launch = createRoute({
  method: 'get',
  path: '/client/v1/apps/{orgName}/{appName}',
  tags: ['Client'],
  summary: "The app's current image for a launcher",
  request: {
    headers: traceKeyHeaders,
    params: z.object({ orgName: z.string().max(100), appName: z.string().max(100) }),
  },
  responses: {
    200: jsonResponse(
      successSchema({
        iCurBuild: z.number().int(),
        buildName: z.string(),
        dxfName: z.string(),
        image: z.object({
          url: z.string().openapi({ description: 'Depot URL of image.dxf' }),
          sizeBytes: z.number(),
          sha256: z
            .string()
            .nullable()
            .openapi({ description: 'Lowercase hex SHA-256 of image.dxf; null if unknown' }),
        }),
        profile: z.object({
          url: z.string().openapi({ description: 'Depot URL of profile.json' }),
        }),
        origins: z.array(z.string()).openapi({
          description:
            'URLs of image.dxf on the CDNs of the deployments that hold it (those with a ' +
            'publicUrl), signed when the deployment has downloadAuth',
        }),
      }),
      'The current image',
    ),
    401: errorResponses[401],
    404: errorResponses[404],
  },
})

export const clientAppRoutes = createRouter().openapi(launch, async (c) => {
  const { orgName, appName } = c.req.valid('param')
  const { app } = await requireTraceKey(c, orgName, appName)

  const image = await currentImage(c.env, app)
  if (!image) {
    throw new ApiError(404, 'notFound', `app ${appName} has no current build yet`)
  }
  const base = settingsOf(c.env).publicUrl || new URL(c.req.url).origin
  const dir = `${base}/depot/${publicImageDir(orgName, appName, image.iCurBuild, image.dxfName)}`
  return c.json(
    success('current image', {
      iCurBuild: image.iCurBuild,
      buildName: image.buildName,
      dxfName: image.dxfName,
      image: { url: `${dir}image.dxf`, sizeBytes: image.sizeBytes, sha256: image.sha256 },
      profile: { url: `${dir}profile.json` },
      origins: await originUrls(c.env, app, orgName, image),
    }),
    200,
  )
})
