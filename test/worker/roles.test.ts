/** Roles and their permission grants (API.md sections 3 and 5, Roles). */
import { describe, expect, it } from 'vitest'
import { RESOURCE_MAX } from '../../src/domain/auth/permissions'
import { makeHuman, makeMachine, makeRole } from './accounts'
import { newOrg } from './fixtures'
import { call } from './helpers'

describe('POST /be/v1/roles and GET /be/v1/roles/{name}', () => {
  it('creates a role whose absent resources are 0', async () => {
    const org = await newOrg('roles')
    const answer = await call('POST', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Publishers', label: 'Ship builds', permissions: { apps: 15, tasks: 31 } },
    })
    expect(answer.status).toBe(201)
    expect(answer.body.role).toMatchObject({
      name: 'Publishers',
      label: 'Ship builds',
      builtin: false,
      permissions: { apps: 15, tasks: 31, beUsers: 0, trainings: 0 },
    })
    expect(Object.keys(answer.body.role.permissions).sort()).toEqual(
      Object.keys(RESOURCE_MAX).sort(),
    )
    const read = await call('GET', '/be/v1/roles/Publishers', { headers: org.headers })
    expect(read.status).toBe(200)
    expect(read.body.role).toEqual(answer.body.role)
    const admins = await call('GET', '/be/v1/roles/Administrators', { headers: org.headers })
    expect(admins.body.role).toMatchObject({ builtin: true, permissions: RESOURCE_MAX })
  })

  it('refuses values beyond a maximum, bits a resource lacks, and unknown resources', async () => {
    const org = await newOrg('roles')
    const post = (permissions: unknown) =>
      call('POST', '/be/v1/roles', { headers: org.headers, body: { name: 'Bad', permissions } })
    const fieldsOf = (answer: { body: { details: { field: string }[] } }) =>
      answer.body.details.map((d) => d.field)

    const above = await post({ apps: 16, consumption: 3 })
    expect(above.status).toBe(400)
    expect(fieldsOf(above)).toEqual(['permissions.apps', 'permissions.consumption'])
    const createOnTrainings = await post({ trainings: 1 })
    expect(createOnTrainings.status).toBe(400)
    expect(fieldsOf(createOnTrainings)).toEqual(['permissions.trainings'])
    expect((await post({ trainings: 6, tasks: 31 })).status).toBe(201)

    const unknown = await call('POST', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Bad2', permissions: { spaceships: 1 } },
    })
    expect(unknown.status).toBe(400)
    expect(unknown.body.details).toContainEqual({
      field: 'permissions.spaceships',
      reason: 'unknown field',
    })
    const negative = await post({ apps: -1 })
    expect(fieldsOf(negative)).toEqual(['permissions.apps'])
    const badName = await call('POST', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'no spaces', permissions: {} },
    })
    expect(fieldsOf(badName)).toEqual(['name'])
    const taken = await call('POST', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Administrators', permissions: {} },
    })
    expect(taken.status).toBe(409)
  })

  it('needs roles.create, and grants nothing beyond the caller', async () => {
    const org = await newOrg('roles')
    expect(
      (await call('POST', '/be/v1/roles', { body: { name: 'X', permissions: {} } })).status,
    ).toBe(401)
    await makeRole(org, 'Readers', { roles: 2 })
    const reader = await makeMachine(org, 'reader', ['Readers'])
    const refused = await call('POST', '/be/v1/roles', {
      headers: reader,
      body: { name: 'Mine', permissions: {} },
    })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'roles.create' }])

    await makeRole(org, 'RoleMakers', { roles: 15, apps: 2 })
    const maker = await makeMachine(org, 'maker', ['RoleMakers'])
    const beyond = await call('POST', '/be/v1/roles', {
      headers: maker,
      body: { name: 'Mine', permissions: { apps: 6 } },
    })
    expect(beyond.status).toBe(403)
    expect(beyond.body.details).toEqual([{ permission: 'apps.update' }])
    const within = await call('POST', '/be/v1/roles', {
      headers: maker,
      body: { name: 'Mine', permissions: { apps: 2 } },
    })
    expect(within.status).toBe(201)
  })

  it('keeps roles inside their org', async () => {
    const org = await newOrg('roles')
    const other = await newOrg('roles')
    await makeRole(other, 'Secret', { apps: 2 })
    expect((await call('GET', '/be/v1/roles/Secret', { headers: org.headers })).status).toBe(404)
    expect((await call('DELETE', '/be/v1/roles/Secret', { headers: org.headers })).status).toBe(404)
    const patched = await call('PATCH', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Secret', label: 'mine now' },
    })
    expect(patched.status).toBe(404)
    const given = await call('POST', '/be/v1/users', {
      headers: org.headers,
      body: { username: 'bot', label: 'b', roles: ['Secret'] },
    })
    expect(given.status).toBe(400)
  })
})

describe('GET /be/v1/roles', () => {
  it('lists roles with fields and order, with roles.read', async () => {
    const org = await newOrg('roles')
    await makeRole(org, 'Zeta', {})
    await makeRole(org, 'Alpha', { apps: 2 })
    const answer = await call('GET', '/be/v1/roles?fields[]=name', { headers: org.headers })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ total: 3, offset: 0, limit: 10 })
    expect(answer.body.items).toEqual([
      { name: 'Administrators' },
      { name: 'Alpha' },
      { name: 'Zeta' },
    ])
    const reversed = await call('GET', '/be/v1/roles?order[]=[-name]&limit=1', {
      headers: org.headers,
    })
    expect(reversed.body.items.map((r: { name: string }) => r.name)).toEqual(['Zeta'])

    const plain = await makeMachine(org, 'plain')
    const refused = await call('GET', '/be/v1/roles', { headers: plain })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'roles.read' }])
    const bad = await call('GET', '/be/v1/roles?limit=0', { headers: org.headers })
    expect(bad.status).toBe(400)
  })
})

describe('PATCH /be/v1/roles', () => {
  it('changes only what is sent; null removes the label', async () => {
    const org = await newOrg('roles')
    await call('POST', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Ops', label: 'Operations', permissions: { apps: 15, tasks: 2 } },
    })
    const answer = await call('PATCH', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Ops', permissions: { tasks: 31 } },
    })
    expect(answer.status).toBe(200)
    expect(answer.body.role).toMatchObject({
      label: 'Operations',
      permissions: { apps: 15, tasks: 31 },
    })
    const cleared = await call('PATCH', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Ops', label: null, permissions: { apps: 0 } },
    })
    expect(cleared.body.role).toMatchObject({ label: null, permissions: { apps: 0, tasks: 31 } })

    const above = await call('PATCH', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Ops', permissions: { consumption: 4 } },
    })
    expect(above.status).toBe(400)
    expect(above.body.details[0].field).toBe('permissions.consumption')
    const missing = await call('PATCH', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Nope', label: 'x' },
    })
    expect(missing.status).toBe(404)
  })

  it('a holder of the permission changes the role, and the change reaches its users', async () => {
    const org = await newOrg('roles')
    await makeRole(org, 'Team', { apps: 2 })
    await makeRole(org, 'RoleEditors', { roles: 6, apps: 15 })
    const editor = await makeMachine(org, 'editor', ['RoleEditors'])
    const member = await makeMachine(org, 'member', ['Team'])
    expect((await call('GET', '/be/v1/roles', { headers: member })).status).toBe(403)

    const raised = await call('PATCH', '/be/v1/roles', {
      headers: editor,
      body: { name: 'Team', permissions: { roles: 2 } },
    })
    expect(raised.status).toBe(200)
    expect((await call('GET', '/be/v1/roles', { headers: member })).status).toBe(200)

    const beyond = await call('PATCH', '/be/v1/roles', {
      headers: editor,
      body: { name: 'Team', permissions: { beUsers: 2 } },
    })
    expect(beyond.status).toBe(403)
    expect(beyond.body.details).toEqual([{ permission: 'beUsers.read' }])
    const refused = await call('PATCH', '/be/v1/roles', {
      headers: member,
      body: { name: 'Team', label: 'x' },
    })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'roles.update' }])
  })

  it('never changes Administrators', async () => {
    const org = await newOrg('roles')
    const lower = await call('PATCH', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Administrators', permissions: { apps: 0 } },
    })
    expect(lower.status).toBe(409)
    const relabel = await call('PATCH', '/be/v1/roles', {
      headers: org.headers,
      body: { name: 'Administrators', label: 'x' },
    })
    expect(relabel.status).toBe(409)
  })
})

describe('DELETE /be/v1/roles/{name}', () => {
  it('deletes a role nobody holds, never a held one or Administrators', async () => {
    const org = await newOrg('roles')
    await makeRole(org, 'Held', { apps: 2 })
    await makeRole(org, 'Spare', { apps: 2 })
    await makeHuman(org, 'holder', ['Held'])

    const held = await call('DELETE', '/be/v1/roles/Held', { headers: org.headers })
    expect(held.status).toBe(409)
    const admins = await call('DELETE', '/be/v1/roles/Administrators', { headers: org.headers })
    expect(admins.status).toBe(409)
    const spare = await call('DELETE', '/be/v1/roles/Spare', { headers: org.headers })
    expect(spare.status).toBe(200)
    expect((await call('GET', '/be/v1/roles/Spare', { headers: org.headers })).status).toBe(404)

    await call('PATCH', '/be/v1/users', {
      headers: org.headers,
      body: { username: 'holder', roles: [] },
    })
    expect((await call('DELETE', '/be/v1/roles/Held', { headers: org.headers })).status).toBe(200)
  })

  it('needs roles.delete', async () => {
    const org = await newOrg('roles')
    await makeRole(org, 'Spare', {})
    await makeRole(org, 'Editors', { roles: 7 })
    const editor = await makeMachine(org, 'editor', ['Editors'])
    const refused = await call('DELETE', '/be/v1/roles/Spare', { headers: editor })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'roles.delete' }])
    expect((await call('DELETE', '/be/v1/roles/Spare')).status).toBe(401)
  })
})
