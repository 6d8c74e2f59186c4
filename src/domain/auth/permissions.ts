/**
 * The permission model of API.md section 3: a bitmask per resource, Create 1, Read 2, Update 4,
 * Delete 8, eXecute 16; a user's permission is the OR over its roles.
 */

/** Each resource and the largest value a role may grant on it. */
export const RESOURCE_MAX = {
  apps: 15,
  beUsers: 15,
  bundles: 15,
  consumption: 2,
  dependencies: 15,
  deployments: 15,
  keys: 15,
  roles: 15,
  sources: 15,
  subscriptions: 15,
  tasks: 31,
  trainings: 6,
} as const

export type Resource = keyof typeof RESOURCE_MAX
export type Operation = 'create' | 'read' | 'update' | 'delete' | 'execute'
export type Permissions = Record<Resource, number>

export const RESOURCES = Object.keys(RESOURCE_MAX) as Resource[]

export const OPERATION_BIT: Record<Operation, number> = {
  create: 1,
  read: 2,
  update: 4,
  delete: 8,
  execute: 16,
}

/** Every resource at 0. */
export function noPermissions(): Permissions {
  return Object.fromEntries(RESOURCES.map((r) => [r, 0])) as Permissions
}

/** Every resource at its maximum: the `Administrators` role. */
export function allPermissions(): Permissions {
  return { ...RESOURCE_MAX }
}

/** ORs role grants together; unknown resources in stored JSON are ignored. */
export function combinePermissions(grants: Partial<Record<string, number>>[]): Permissions {
  const result = noPermissions()
  for (const grant of grants) {
    for (const resource of RESOURCES) result[resource] |= grant[resource] ?? 0
  }
  return result
}

/** True when `permissions` allow `op` on `resource`. */
export function allows(permissions: Permissions, resource: Resource, op: Operation): boolean {
  return (permissions[resource] & OPERATION_BIT[op]) !== 0
}
