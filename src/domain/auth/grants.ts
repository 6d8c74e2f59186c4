/**
 * No caller hands out more than it holds: the permissions it puts into a role, the roles it gives a
 * user and the credentials it resets on another user must be covered by its own permissions, so
 * holding `beUsers` or `roles` never leads to more than the holder already has.
 */
import { forbidden } from '../../http/errors'
import { OPERATION_BIT, type Operation, type Permissions, RESOURCES } from './permissions'

const OPERATIONS = Object.keys(OPERATION_BIT) as Operation[]

/** The first `<resource>.<op>` that `wanted` grants and `held` lacks; null when all is covered. */
export function missingGrant(
  held: Permissions,
  wanted: Partial<Record<string, number>>,
): string | null {
  for (const resource of RESOURCES) {
    const extra = (wanted[resource] ?? 0) & ~held[resource]
    if (extra === 0) continue
    const op = OPERATIONS.find((o) => (extra & OPERATION_BIT[o]) !== 0)
    return `${resource}.${op}`
  }
  return null
}

/** Throws 403 naming the first permission of `wanted` that `held` lacks. */
export function requireCovered(held: Permissions, wanted: Partial<Record<string, number>>) {
  const missing = missingGrant(held, wanted)
  if (missing) throw forbidden(missing)
}
