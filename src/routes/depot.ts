/**
 * The instance's depot (no authentication, public like a CDN): the images and patches of every
 * app in the origin layout of API.md under `/depot/`. GET and HEAD, with byte ranges.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { imageFile, patchFile } from '../domain/apps/depot-files'
import { notFound } from '../http/errors'
import { createRouter } from '../http/router'
import { errorResponses } from '../http/schemas'
import { serveDepotFile } from './depot-serve'

const segment = z.string().max(200)

const fileHeaders = {
  ETag: { schema: { type: 'string' as const }, description: 'The R2 ETag, quoted' },
  'Accept-Ranges': { schema: { type: 'string' as const }, description: 'bytes' },
  'Cache-Control': {
    schema: { type: 'string' as const },
    description:
      'Image files: public, max-age=31536000, immutable. Patches (remade in place when ' +
      'training replaces the newer build image): public, max-age=300, must-revalidate',
  },
}

const responses = {
  200: { description: 'The whole file, streamed (HEAD: headers only)', headers: fileHeaders },
  206: { description: 'The requested byte range (Content-Range)', headers: fileHeaders },
  304: { description: 'Not modified (If-None-Match / If-Modified-Since)' },
  404: errorResponses[404],
  416: {
    description: 'No byte of the range is in the file; Content-Range: bytes */size',
    content: errorResponses[404].content,
  },
}

const image = createRoute({
  method: 'get',
  path: '/depot/dxf/{orgName}/{appName}/{buildId}/{dxfName}/{file}',
  tags: ['Depot'],
  summary:
    'image.dxf or profile.json of an image of a kept build, or of one replaced less than ' +
    '24 h ago (also HEAD; Range)',
  request: {
    params: z.object({
      orgName: segment,
      appName: segment,
      buildId: segment.openapi({ description: 'Build id, 4 digits zero padded' }),
      dxfName: segment,
      file: segment.openapi({ description: 'image.dxf or profile.json' }),
    }),
  },
  responses,
})

const patch = createRoute({
  method: 'get',
  path: '/depot/pat/{orgName}/{appName}/{toBuildId}/{fromBuildId}/{file}',
  tags: ['Depot'],
  summary: 'The patch from one build to another (also HEAD; Range)',
  request: {
    params: z.object({
      orgName: segment,
      appName: segment,
      toBuildId: segment,
      fromBuildId: segment,
      file: segment.openapi({ description: 'patch.dxf' }),
    }),
  },
  responses,
})

export const depotRoutes = createRouter()
  .openapi(image, async (c) => {
    const file = await imageFile(c.env, c.req.valid('param'))
    if (!file) throw notFound('file')
    return serveDepotFile(c, file)
  })
  .openapi(patch, async (c) => {
    const { file: name, ...path } = c.req.valid('param')
    const file = name === 'patch.dxf' ? await patchFile(c.env, path) : null
    if (!file) throw notFound('file')
    return serveDepotFile(c, file)
  })
