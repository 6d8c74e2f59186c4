/**
 * D1 schema of rockit-edge (drizzle-orm). Every record belongs to an org; every lookup by name
 * is scoped by `orgId`, so one org can never see another's rows. Times are ISO 8601 UTC text,
 * flexible sub-records (permissions, origin settings, task cursors) are JSON text.
 */
import { sql } from 'drizzle-orm'
import {
  index,
  integer,
  primaryKey,
  real,
  sqliteTable,
  text,
  uniqueIndex,
} from 'drizzle-orm/sqlite-core'

const now = sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`

export const orgs = sqliteTable(
  'orgs',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    label: text('label'),
    publicKey: text('public_key'),
    /** `active`, or `deleting` while the delete task runs (the name stays taken until it ends). */
    state: text('state').notNull().default('active'),
    created: text('created').notNull().default(now),
    updated: text('updated').notNull().default(now),
  },
  (t) => [uniqueIndex('orgs_name').on(t.name)],
)

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id, { onDelete: 'cascade' }),
    username: text('username').notNull(),
    machine: integer('machine', { mode: 'boolean' }).notNull().default(false),
    email: text('email'),
    firstname: text('firstname'),
    surname: text('surname'),
    title: text('title'),
    label: text('label'),
    /** `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`; null for machine users. */
    passwordHash: text('password_hash'),
    created: text('created').notNull().default(now),
    updated: text('updated').notNull().default(now),
  },
  (t) => [uniqueIndex('users_org_username').on(t.orgId, t.username)],
)

export const roles = sqliteTable(
  'roles',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    label: text('label'),
    /** JSON `{"apps":15,...}`; resources absent mean 0. */
    permissions: text('permissions').notNull(),
    /** The org's `Administrators` role: never deleted or lowered. */
    builtin: integer('builtin', { mode: 'boolean' }).notNull().default(false),
    created: text('created').notNull().default(now),
    updated: text('updated').notNull().default(now),
  },
  (t) => [uniqueIndex('roles_org_name').on(t.orgId, t.name)],
)

export const userRoles = sqliteTable(
  'user_roles',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    roleId: text('role_id')
      .notNull()
      .references(() => roles.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.userId, t.roleId] }), index('user_roles_role').on(t.roleId)],
)

export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    label: text('label'),
    /** Lowercase hex SHA-256 of the key; the key itself is shown once and never stored. */
    hash: text('hash').notNull(),
    created: text('created').notNull().default(now),
    expires: text('expires'),
    lastUsed: text('last_used'),
  },
  (t) => [uniqueIndex('api_keys_hash').on(t.hash), index('api_keys_user').on(t.userId)],
)

/** Login sessions (24 h) and the auth tokens (5 min) made from them; both stored as hashes. */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** `session` or `auth`. */
    kind: text('kind').notNull(),
    /** For an auth token, the session it was made from (revoking that session revokes it). */
    parentId: text('parent_id'),
    hash: text('hash').notNull(),
    created: text('created').notNull().default(now),
    expires: text('expires').notNull(),
    revoked: integer('revoked', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [uniqueIndex('sessions_hash').on(t.hash), index('sessions_parent').on(t.parentId)],
)

/** Fixed-window counters for failed logins (per org+username and per client address). */
export const rateLimits = sqliteTable('rate_limits', {
  key: text('key').primaryKey(),
  windowStart: integer('window_start').notNull(),
  count: integer('count').notNull(),
})

export const apps = sqliteTable(
  'apps',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    label: text('label').notNull(),
    maxBuilds: integer('max_builds').notNull().default(5),
    blockSize: integer('block_size').notNull().default(65536),
    /** JSON array of deployment names; null or [] means all of the org's deployments. */
    deployments: text('deployments'),
    traceKeyHash: text('trace_key_hash').notNull(),
    /** idle | processing | exporting | error | locked */
    state: text('state').notNull().default('idle'),
    error: text('error'),
    locked: integer('locked', { mode: 'boolean' }).notNull().default(false),
    iCurBuild: integer('i_cur_build'),
    dxfName: text('dxf_name'),
    /** JSON of the six training settings of API.md. */
    training: text('training').notNull(),
    created: text('created').notNull().default(now),
    updated: text('updated').notNull().default(now),
  },
  (t) => [uniqueIndex('apps_org_name').on(t.orgId, t.name)],
)

export const builds = sqliteTable(
  'builds',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id, { onDelete: 'cascade' }),
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    buildId: integer('build_id').notNull(),
    buildName: text('build_name').notNull(),
    /** pending (waiting for the tar) | importing | ready | failed | deleted */
    state: text('state').notNull().default('pending'),
    sizeBytes: integer('size_bytes').notNull().default(0),
    files: integer('files').notNull().default(0),
    blocks: integer('blocks').notNull().default(0),
    blockSize: integer('block_size').notNull(),
    tarKey: text('tar_key'),
    dxfName: text('dxf_name'),
    created: text('created').notNull().default(now),
  },
  (t) => [
    uniqueIndex('builds_app_build').on(t.appId, t.buildId),
    uniqueIndex('builds_app_name').on(t.appId, t.buildName),
  ],
)

export const patches = sqliteTable(
  'patches',
  {
    id: text('id').primaryKey(),
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    fromBuildId: integer('from_build_id').notNull(),
    toBuildId: integer('to_build_id').notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    changedFilesBytes: integer('changed_files_bytes').notNull().default(0),
    key: text('key').notNull(),
    created: text('created').notNull().default(now),
  },
  (t) => [uniqueIndex('patches_app_from_to').on(t.appId, t.fromBuildId, t.toBuildId)],
)

export const tasks = sqliteTable(
  'tasks',
  {
    /** The public `taskName`. */
    id: text('id').primaryKey(),
    orgId: text('org_id').references(() => orgs.id, { onDelete: 'cascade' }),
    appId: text('app_id'),
    type: text('type').notNull(),
    /** submitted | running | succeeded | failed | expired */
    state: text('state').notNull().default('submitted'),
    appName: text('app_name'),
    buildName: text('build_name'),
    progress: real('progress').notNull().default(0),
    attempts: integer('attempts').notNull().default(0),
    /** Step sequence number: a queue message for another `seq` is a duplicate and is dropped. */
    seq: integer('seq').notNull().default(0),
    /** JSON: the step's saved progress (where the next step resumes). */
    cursor: text('cursor'),
    /** JSON: what the task was asked to do. */
    params: text('params').notNull().default('{}'),
    /** JSON: what it produced. */
    result: text('result'),
    /** JSON array of `{code, message, acknowledged}`. */
    warnings: text('warnings').notNull().default('[]'),
    /** JSON `{code, message, ...facts}` of a failure. */
    exception: text('exception'),
    created: text('created').notNull().default(now),
    started: text('started'),
    ended: text('ended'),
    updated: text('updated').notNull().default(now),
  },
  (t) => [index('tasks_org_created').on(t.orgId, t.created), index('tasks_app').on(t.appId)],
)

/** Single-use upload URLs for builds sent without `url`; the token is stored as a hash. */
export const uploads = sqliteTable(
  'uploads',
  {
    hash: text('hash').primaryKey(),
    taskId: text('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    expires: text('expires').notNull(),
    used: integer('used', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [index('uploads_task').on(t.taskId)],
)

export const deployments = sqliteTable(
  'deployments',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    label: text('label'),
    originPrefix: text('origin_prefix').notNull(),
    /** JSON of the origin with its secrets encrypted (AES-GCM with the instance key). */
    origin: text('origin').notNull(),
    downloadAuth: text('download_auth'),
    /** Where launchers download what the origin holds: the CDN in front of it (no trailing /). */
    publicUrl: text('public_url'),
    /** unknown | ok | error */
    status: text('status').notNull().default('unknown'),
    message: text('message'),
    rangeVerified: integer('range_verified', { mode: 'boolean' }).notNull().default(false),
    created: text('created').notNull().default(now),
    updated: text('updated').notNull().default(now),
  },
  (t) => [uniqueIndex('deployments_org_name').on(t.orgId, t.name)],
)

/** Files on an origin that a newer publish replaced; the cron deletes them after `deleteAfter`. */
export const retiredFiles = sqliteTable(
  'retired_files',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull(),
    deploymentId: text('deployment_id'),
    key: text('key').notNull(),
    deleteAfter: text('delete_after').notNull(),
  },
  (t) => [index('retired_files_after').on(t.deleteAfter)],
)

export const subscriptions = sqliteTable(
  'subscriptions',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    targetType: text('target_type').notNull(),
    url: text('url').notNull(),
    /** JSON array of `{type, event}`; null means every event. */
    events: text('events'),
    /** The signing secret, encrypted with the instance key (it must be recoverable to sign). */
    secret: text('secret').notNull(),
    created: text('created').notNull().default(now),
    updated: text('updated').notNull().default(now),
  },
  (t) => [uniqueIndex('subscriptions_org_name').on(t.orgId, t.name)],
)

/** One row per event per subscription: its attempts, last result, and dead-letter state. */
export const deliveries = sqliteTable(
  'deliveries',
  {
    id: text('id').primaryKey(),
    subscriptionId: text('subscription_id')
      .notNull()
      .references(() => subscriptions.id, { onDelete: 'cascade' }),
    eventId: text('event_id').notNull(),
    /** JSON body of the event. */
    payload: text('payload').notNull(),
    /** pending | delivered | failed (retrying) | dead */
    state: text('state').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    created: text('created').notNull().default(now),
    updated: text('updated').notNull().default(now),
  },
  (t) => [
    uniqueIndex('deliveries_sub_event').on(t.subscriptionId, t.eventId),
    index('deliveries_sub_created').on(t.subscriptionId, t.created),
  ],
)

export const traces = sqliteTable(
  'traces',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id, { onDelete: 'cascade' }),
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    buildId: integer('build_id').notNull(),
    sessionId: text('session_id').notNull(),
    durationMs: integer('duration_ms').notNull(),
    reads: integer('reads').notNull(),
    blocksTouched: integer('blocks_touched').notNull(),
    firstSession: integer('first_session', { mode: 'boolean' }),
    rawKey: text('raw_key').notNull(),
    normKey: text('norm_key').notNull(),
    /** Counted by the app's coordinator (into nTraces and the aggregate statistics). */
    counted: integer('counted', { mode: 'boolean' }).notNull().default(false),
    created: text('created').notNull().default(now),
  },
  (t) => [
    uniqueIndex('traces_app_session').on(t.appId, t.sessionId),
    index('traces_app_created').on(t.appId, t.created),
    index('traces_app_build').on(t.appId, t.buildId),
  ],
)

export const trainingRuns = sqliteTable(
  'training_runs',
  {
    id: text('id').primaryKey(),
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    taskName: text('task_name').notNull(),
    nTraces: integer('n_traces').notNull(),
    coverage: real('coverage').notNull(),
    /** JSON figures of the current image and the candidate (median/p90 P* per bandwidth). */
    qualityBefore: text('quality_before'),
    qualityAfter: text('quality_after'),
    deployed: integer('deployed', { mode: 'boolean' }).notNull().default(false),
    reason: text('reason').notNull(),
    /** The order method (ORDER_METHODS) the candidate was ordered by, once measured. */
    method: text('method'),
    created: text('created').notNull().default(now),
  },
  (t) => [index('training_runs_app').on(t.appId, t.created)],
)
