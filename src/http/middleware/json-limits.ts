/** Body size limit of the JSON API families (uploads and traces have their own limits). */
import type { MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { AppEnv } from '../context'
import { tooLarge } from '../errors'

/** Largest JSON request body, in bytes. */
export const MAX_JSON_BYTES = 1024 * 1024

export function jsonBodyLimit(maxSize = MAX_JSON_BYTES): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw tooLarge(`request body over ${maxSize} bytes`)
    },
  })
}
