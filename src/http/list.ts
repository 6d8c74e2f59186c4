/**
 * List conventions of API.md section 1: `offset`, `limit`, `fields[]` and `order[]` (comma list or
 * repeated; the bracket form `[-name]` too). Routes add their own filters to `listQuery`.
 */
import { z } from '@hono/zod-openapi'
import { invalidParam } from './errors'

const stringOrList = z.union([z.string(), z.array(z.string())]).optional()

/** Query parameters shared by every list. */
export const listQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0).openapi({ description: 'Items to skip' }),
  limit: z.coerce.number().int().min(1).max(100).default(10).openapi({ description: '1..100' }),
  'fields[]': stringOrList.openapi({ description: 'Fields to return (comma list or repeated)' }),
  fields: stringOrList.openapi({ description: 'Alias of fields[]' }),
  'order[]': stringOrList.openapi({ description: 'Sort keys: name, +name, -created, [-name]' }),
  order: stringOrList.openapi({ description: 'Alias of order[]' }),
})

export type ListQuery = z.infer<typeof listQuery>

export interface SortKey {
  field: string
  descending: boolean
}

export interface ListOptions {
  offset: number
  limit: number
  fields?: string[]
  order: SortKey[]
}

function flatten(...values: (string | string[] | undefined)[]): string[] {
  return values
    .flatMap((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .flatMap((v) => v.replace(/^\[|\]$/g, '').split(','))
    .map((v) => v.trim())
    .filter(Boolean)
}

/** Checks `fields[]` and `order[]` against what the resource has; 400 names a bad one. */
export function listOptions(
  query: ListQuery,
  allowed: { fields: readonly string[]; order: readonly string[] },
): ListOptions {
  const fields = flatten(query['fields[]'], query.fields)
  const badField = fields.find((f) => !allowed.fields.includes(f))
  if (badField) {
    throw invalidParam([
      {
        field: 'fields[]',
        reason: `unknown field ${badField}; one of ${allowed.fields.join(', ')}`,
      },
    ])
  }

  const order = flatten(query['order[]'], query.order).map((key) => {
    const descending = key.startsWith('-')
    const field = key.replace(/^[+-]/, '')
    if (!allowed.order.includes(field)) {
      throw invalidParam([
        {
          field: 'order[]',
          reason: `cannot order by ${field}; one of ${allowed.order.join(', ')}`,
        },
      ])
    }
    return { field, descending }
  })

  return {
    offset: query.offset,
    limit: query.limit,
    fields: fields.length ? fields : undefined,
    order,
  }
}

/** Keeps exactly the asked fields of an item (all when none were asked). */
export function pickFields<T extends Record<string, unknown>>(
  item: T,
  fields?: string[],
): Partial<T> {
  if (!fields) return item
  return Object.fromEntries(fields.map((f) => [f, item[f]])) as Partial<T>
}

/** Sorts, pages and projects items held in memory (for small per-org collections). */
export function pageInMemory<T extends Record<string, unknown>>(items: T[], options: ListOptions) {
  const sorted = [...items]
  if (options.order.length) {
    sorted.sort((a, b) => {
      for (const { field, descending } of options.order) {
        const x = a[field] as string | number | null
        const y = b[field] as string | number | null
        if (x === y) continue
        const cmp = x === null ? -1 : y === null ? 1 : x < y ? -1 : 1
        return descending ? -cmp : cmp
      }
      return 0
    })
  }
  return {
    total: sorted.length,
    items: sorted
      .slice(options.offset, options.offset + options.limit)
      .map((i) => pickFields(i, options.fields)),
  }
}
