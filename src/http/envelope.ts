/**
 * Success envelopes of API.md: `{"status":"success","message":...}` plus the resource under its
 * singular noun and any one-time secrets at the top level.
 */
export type SuccessBody<T extends Record<string, unknown>> = {
  status: 'success'
  message: string
} & T

/** Builds a success body. */
export function success<T extends Record<string, unknown>>(
  message: string,
  extra?: T,
): SuccessBody<T> {
  return { status: 'success', message, ...(extra ?? ({} as T)) }
}

/** A page of a list as API.md section 1 writes it. */
export function page<T>(items: T[], total: number, offset: number, limit: number) {
  return { status: 'success' as const, total, offset, limit, items }
}
