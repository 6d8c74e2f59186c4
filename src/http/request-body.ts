/**
 * A request body that breaks off is the client's doing: a launcher that goes away mid-upload
 * makes reading the body fail (workerd: "Network connection lost."). That is bad input, a
 * 400, not a failure of ours; the error handler logs it as a warning without a stack.
 */
import { ApiError } from './errors'

/** Reading the request body failed before its end: the client sent less than it announced. */
export class BodyEndedEarly extends ApiError {
  override name = 'BodyEndedEarly'
  /** Body bytes read before the break. */
  readonly received: number
  /** What the runtime said, for the log. */
  readonly reason: string

  constructor(received: number, cause: unknown) {
    super(400, 'invalidParam', 'the request body ended early')
    this.received = received
    this.reason = String(cause)
  }
}

/**
 * `body` as it is, except that a failing read fails with {@link BodyEndedEarly}, whoever
 * reads it (a parser, a copy to R2, or both through a tee), and so does a body that ends
 * before its `contentLength` (when known) instead of ending as if it were whole.
 *
 * @example const body = guardedBody(c.req.raw.body, 1024)
 */
export function guardedBody(
  body: ReadableStream<Uint8Array>,
  contentLength: number | null,
): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let received = 0
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>
        try {
          chunk = await reader.read()
        } catch (error) {
          throw new BodyEndedEarly(received, error)
        }
        if (chunk.done) {
          if (contentLength !== null && received < contentLength) {
            throw new BodyEndedEarly(received, `ended after ${received} of ${contentLength} bytes`)
          }
          return controller.close()
        }
        received += chunk.value.length
        controller.enqueue(chunk.value)
      },
      cancel(reason) {
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}
