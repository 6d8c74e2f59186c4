// Types for the two test-only Node packages that ship none: the parts the origin servers use.
declare module 'aws4' {
  interface SignableRequest {
    method?: string
    path?: string
    host?: string
    service?: string
    region?: string
    headers?: Record<string, string>
  }
  /** Signs `request` in place (dated by its `x-amz-date` header when it has one) and returns it. */
  export function sign(
    request: SignableRequest,
    credentials: { accessKeyId: string; secretAccessKey: string },
  ): SignableRequest & { headers: Record<string, string> }
}

declare module 's3rver' {
  interface S3rverOptions {
    address?: string
    port?: number
    silent?: boolean
    directory?: string
    configureBuckets?: { name: string }[]
  }
  export default class S3rver {
    constructor(options: S3rverOptions)
    run(): Promise<{ address: string; port: number }>
    close(): Promise<void>
  }
}
