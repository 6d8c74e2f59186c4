/** A test server started on a loopback port. */
export interface RunningServer {
  url: string
  close(): Promise<void>
}
