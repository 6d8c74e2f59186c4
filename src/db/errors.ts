/** Recognising D1 constraint failures, which drizzle wraps (the D1 text sits in `cause`). */

/** True when `error` is a UNIQUE constraint failure (optionally on `index`). */
export function isUniqueViolation(error: unknown, index?: string): boolean {
  const text = `${error} ${(error as Error)?.cause ?? ''}`
  return text.includes('UNIQUE') && (!index || text.includes(index))
}
