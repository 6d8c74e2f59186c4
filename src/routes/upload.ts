/**
 * `PUT /upload/{token}`: the tar of a build created without `url`. No other credential: the
 * single-use URL is one. Answers 202 with the build's `mkraw` task.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { receiveUpload, TAR_CONTENT_TYPE } from '../domain/builds/receive-upload'
import { success } from '../http/envelope'
import { createRouter } from '../http/router'
import { errorBody, errorResponses, jsonResponse, successSchema } from '../http/schemas'

const errorContent = { 'application/json': { schema: errorBody } }

const put = createRoute({
  method: 'put',
  path: '/upload/{token}',
  tags: ['Builds'],
  summary: 'Upload the tar of a build to its single-use upload URL',
  request: {
    params: z.object({ token: z.string().max(200) }),
    body: {
      required: true,
      description: 'The build: one uncompressed tar, with `Content-Length`',
      content: { [TAR_CONTENT_TYPE]: { schema: z.any().openapi({ format: 'binary' }) } },
    },
  },
  responses: {
    202: jsonResponse(
      successSchema({ taskName: z.string().openapi({ description: 'The mkraw task' }) }),
      'Upload stored; the build is being imported',
    ),
    400: errorResponses[400],
    404: errorResponses[404],
    410: { description: 'Used, expired, or its task expired', content: errorContent },
    411: { description: 'Content-Length missing', content: errorContent },
    413: errorResponses[413],
    415: errorResponses[415],
  },
})

export const uploadRoutes = createRouter().openapi(put, async (c) => {
  const { token } = c.req.valid('param')
  const received = await receiveUpload(c.env, token, c.req.raw, c.var.log)
  return c.json(success('upload received', { taskName: received.taskName }), 202)
})
