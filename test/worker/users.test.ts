/** Account management (`beUsers`): humans and machines, self-service, and the guard rules. */
import { describe, expect, it } from 'vitest'
import { freshAddress, makeHuman, makeMachine, makeRole, signIn } from './accounts'
import { newOrg } from './fixtures'
import { call } from './helpers'

const login = (orgName: string, username: string, password: string) =>
  call('POST', '/be/v1/login', {
    headers: { 'cf-connecting-ip': freshAddress() },
    body: { orgName, username, password },
  })

describe('POST /be/v1/users', () => {
  it('creates a human with an initial password that logs in', async () => {
    const org = await newOrg('users')
    await makeRole(org, 'Publishers', { apps: 15 })
    const answer = await call('POST', '/be/v1/users', {
      headers: org.headers,
      body: {
        username: 'jdoe',
        email: 'jdoe@example.com',
        firstname: 'Jane',
        surname: 'Doe',
        title: 'Dr',
        roles: ['Publishers'],
      },
    })
    expect(answer.status).toBe(201)
    expect(answer.body.user).toMatchObject({
      username: 'jdoe',
      machine: false,
      email: 'jdoe@example.com',
      title: 'Dr',
      roles: ['Publishers'],
    })
    expect(answer.body.apiKey).toBeUndefined()
    expect(JSON.stringify(answer.body.user)).not.toContain('pbkdf2')
    const session = await login(org.orgName, 'jdoe', answer.body.password)
    expect(session.status).toBe(200)
    expect(session.body.permissions.apps).toBe(15)
  })

  it('creates a machine with an API key that works and no password', async () => {
    const org = await newOrg('users')
    const answer = await call('POST', '/be/v1/users', {
      headers: org.headers,
      body: { username: 'ci_bot', label: 'CI pipeline', roles: ['Administrators'] },
    })
    expect(answer.status).toBe(201)
    expect(answer.body.user).toMatchObject({ machine: true, label: 'CI pipeline', email: null })
    expect(answer.body.password).toBeUndefined()
    const headers = {
      'x-rockit-orgname': org.orgName,
      'x-rockit-username': 'ci_bot',
      'x-rockit-api-key': answer.body.apiKey,
    }
    expect((await call('GET', '/be/v1/users', { headers })).status).toBe(200)
    expect((await login(org.orgName, 'ci_bot', 'whatever-password')).status).toBe(401)
  })

  it('refuses bad bodies, unknown roles and taken names', async () => {
    const org = await newOrg('users')
    const post = (body: unknown) => call('POST', '/be/v1/users', { headers: org.headers, body })
    const human = await post({ username: 'x_y', email: 'not-mail', roles: [] })
    expect(human.status).toBe(400)
    const fields = human.body.details.map((d: { field: string }) => d.field)
    expect(fields).toContain('email')

    const incomplete = await post({ username: 'half', email: 'h@example.com', roles: [] })
    expect(incomplete.status).toBe(400)
    expect(incomplete.body.details).toContainEqual({
      field: 'firstname',
      reason: 'required for a human user',
    })
    const machine = await post({
      username: 'bot',
      label: 'b',
      email: 'b@x.io',
      machine: true,
      roles: [],
    })
    expect(machine.status).toBe(400)
    expect(machine.body.details).toContainEqual({ field: 'email', reason: 'only for human users' })

    const badName = await post({ username: 'no way', label: 'b', roles: [] })
    expect(badName.body.details).toContainEqual(expect.objectContaining({ field: 'username' }))
    const noRoles = await post({ username: 'bot2', label: 'b' })
    expect(noRoles.status).toBe(400)
    const unknownRole = await post({ username: 'bot3', label: 'b', roles: ['Ghosts'] })
    expect(unknownRole.status).toBe(400)
    expect(unknownRole.body.details).toEqual([{ field: 'roles', reason: 'no such role: Ghosts' }])
    const extra = await post({ username: 'bot4', label: 'b', roles: [], password: 'x' })
    expect(extra.body.details).toContainEqual({ field: 'password', reason: 'unknown field' })

    const taken = await post({ username: 'admin', label: 'b', roles: [] })
    expect(taken.status).toBe(409)
  })

  it('needs beUsers.create, and cannot hand out more than the caller holds', async () => {
    const org = await newOrg('users')
    expect(
      (await call('POST', '/be/v1/users', { body: { username: 'a', roles: [] } })).status,
    ).toBe(401)
    await makeRole(org, 'Readers', { beUsers: 2 })
    const reader = await makeMachine(org, 'reader', ['Readers'])
    const refused = await call('POST', '/be/v1/users', {
      headers: reader,
      body: { username: 'bot', label: 'b', roles: [] },
    })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'beUsers.create' }])

    await makeRole(org, 'UserAdmins', { beUsers: 15 })
    const userAdmin = await makeMachine(org, 'useradmin', ['UserAdmins'])
    const escalate = await call('POST', '/be/v1/users', {
      headers: userAdmin,
      body: { username: 'bot', label: 'b', roles: ['Administrators'] },
    })
    expect(escalate.status).toBe(403)
    expect(escalate.body.details[0].permission).toMatch(
      /^[a-zA-Z]+\.(create|read|update|delete|execute)$/,
    )
    const fine = await call('POST', '/be/v1/users', {
      headers: userAdmin,
      body: { username: 'bot', label: 'b', roles: ['Readers'] },
    })
    expect(fine.status).toBe(201)
  })
})

describe('GET /be/v1/users', () => {
  it('lists with filters, fields and order', async () => {
    const org = await newOrg('users')
    await makeHuman(org, 'alice')
    await makeHuman(org, 'malcolm')
    await makeMachine(org, 'build_bot')

    const all = await call('GET', '/be/v1/users?order[]=-username', { headers: org.headers })
    expect(all.status).toBe(200)
    expect(all.body.total).toBe(4)
    expect(all.body.items.map((u: { username: string }) => u.username)).toEqual([
      'malcolm',
      'build_bot',
      'alice',
      'admin',
    ])
    const partial = await call('GET', '/be/v1/users?username=AL', { headers: org.headers })
    expect(partial.body.items.map((u: { username: string }) => u.username).sort()).toEqual([
      'alice',
      'malcolm',
    ])
    const machines = await call('GET', '/be/v1/users?machine=true&fields[]=username,machine', {
      headers: org.headers,
    })
    expect(machines.body.items).toEqual([{ username: 'build_bot', machine: true }])
    const paged = await call('GET', '/be/v1/users?limit=1&offset=1', { headers: org.headers })
    expect(paged.body).toMatchObject({ total: 4, offset: 1, limit: 1 })
    expect(paged.body.items).toHaveLength(1)

    const bad = await call('GET', '/be/v1/users?machine=maybe', { headers: org.headers })
    expect(bad.status).toBe(400)
    const badOrder = await call('GET', '/be/v1/users?order[]=password', { headers: org.headers })
    expect(badOrder.status).toBe(400)
  })

  it('needs beUsers.read and shows only the own org', async () => {
    const org = await newOrg('users')
    const other = await newOrg('users')
    await makeHuman(other, 'stranger')
    const plain = await makeMachine(org, 'plain')
    const refused = await call('GET', '/be/v1/users', { headers: plain })
    expect(refused.status).toBe(403)
    expect(refused.body.message).toContain('beUsers.read')
    const listed = await call('GET', '/be/v1/users', { headers: org.headers })
    expect(listed.body.items.map((u: { username: string }) => u.username)).not.toContain('stranger')
    const crossed = await call('GET', '/be/v1/users/stranger', { headers: org.headers })
    expect(crossed.status).toBe(404)
  })
})

describe('GET /be/v1/users/{username}', () => {
  it('lets users read themselves but not others without beUsers.read', async () => {
    const org = await newOrg('users')
    const plain = await makeMachine(org, 'plain')
    const self = await call('GET', '/be/v1/users/plain', { headers: plain })
    expect(self.status).toBe(200)
    expect(self.body.user).toMatchObject({ username: 'plain', machine: true, roles: [] })
    const other = await call('GET', '/be/v1/users/admin', { headers: plain })
    expect(other.status).toBe(403)
    expect((await call('GET', '/be/v1/users/nobody', { headers: org.headers })).status).toBe(404)
    expect((await call('GET', '/be/v1/users/admin')).status).toBe(401)
  })
})

describe('PATCH /be/v1/users', () => {
  it('lets users change their own profile and password', async () => {
    const org = await newOrg('users')
    const password = await makeHuman(org, 'jdoe')
    const me = await signIn(org.orgName, 'jdoe', password)
    const patch = (body: unknown) => call('PATCH', '/be/v1/users', { headers: me.headers, body })

    const profile = await patch({ username: 'jdoe', title: 'Prof', surname: 'Smith' })
    expect(profile.status).toBe(200)
    expect(profile.body.user).toMatchObject({ title: 'Prof', surname: 'Smith' })
    const cleared = await patch({ username: 'jdoe', title: null })
    expect(cleared.body.user.title).toBeNull()
    const required = await patch({ username: 'jdoe', email: null })
    expect(required.status).toBe(400)

    const noOld = await patch({ username: 'jdoe', newPW: 'a-new-password' })
    expect(noOld.status).toBe(400)
    expect(noOld.body.details[0].field).toBe('oldPW')
    const wrongOld = await patch({ username: 'jdoe', oldPW: 'nope-nope', newPW: 'a-new-password' })
    expect(wrongOld.status).toBe(400)
    const short = await patch({ username: 'jdoe', oldPW: password, newPW: 'short' })
    expect(short.status).toBe(400)
    const changed = await patch({ username: 'jdoe', oldPW: password, newPW: 'a-new-password' })
    expect(changed.status).toBe(200)
    expect(changed.body.password).toBeUndefined()
    expect((await login(org.orgName, 'jdoe', password)).status).toBe(401)
    expect((await login(org.orgName, 'jdoe', 'a-new-password')).status).toBe(200)
    // The session that made the change goes on.
    expect((await call('GET', '/be/v1/users/jdoe', { headers: me.headers })).status).toBe(200)
  })

  it('keeps roles, credential resets and other users for beUsers updaters', async () => {
    const org = await newOrg('users')
    const password = await makeHuman(org, 'jdoe')
    const me = await signIn(org.orgName, 'jdoe', password)
    const ownRoles = await call('PATCH', '/be/v1/users', {
      headers: me.headers,
      body: { username: 'jdoe', roles: ['Administrators'] },
    })
    expect(ownRoles.status).toBe(403)
    expect(ownRoles.body.details).toEqual([{ permission: 'beUsers.update' }])
    const reset = await call('PATCH', '/be/v1/users', {
      headers: me.headers,
      body: { username: 'jdoe', resetCreds: true },
    })
    expect(reset.status).toBe(403)
    const other = await call('PATCH', '/be/v1/users', {
      headers: me.headers,
      body: { username: 'admin', title: 'x' },
    })
    expect(other.status).toBe(403)
    const elsewhere = await newOrg('users')
    const crossed = await call('PATCH', '/be/v1/users', {
      headers: elsewhere.headers,
      body: { username: 'jdoe', title: 'x' },
    })
    expect(crossed.status).toBe(404)
  })

  it('resets a human password and a machine key for an updater', async () => {
    const org = await newOrg('users')
    const password = await makeHuman(org, 'jdoe')
    const before = await signIn(org.orgName, 'jdoe', password)
    const human = await call('PATCH', '/be/v1/users', {
      headers: org.headers,
      body: { username: 'jdoe', resetCreds: true },
    })
    expect(human.status).toBe(200)
    expect(human.body.password).toMatch(/^[A-Za-z0-9]{20}$/)
    expect((await login(org.orgName, 'jdoe', password)).status).toBe(401)
    expect((await login(org.orgName, 'jdoe', human.body.password)).status).toBe(200)
    // Sessions opened with the old password end with it.
    expect((await call('GET', '/be/v1/users/jdoe', { headers: before.headers })).status).toBe(401)

    const oldKey = await makeMachine(org, 'robot')
    const machine = await call('PATCH', '/be/v1/users', {
      headers: org.headers,
      body: { username: 'robot', resetCreds: true },
    })
    expect(machine.status).toBe(200)
    expect(machine.body.apiKey).toMatch(/^rkk_/)
    expect((await call('GET', '/be/v1/users/robot', { headers: oldKey })).status).toBe(401)
    const newKey = { ...oldKey, 'x-rockit-api-key': machine.body.apiKey }
    expect((await call('GET', '/be/v1/users/robot', { headers: newKey })).status).toBe(200)

    const noPassword = await call('PATCH', '/be/v1/users', {
      headers: org.headers,
      body: { username: 'robot', newPW: 'something-long', email: 'r@example.com' },
    })
    expect(noPassword.status).toBe(400)
  })

  it('changes roles, but never takes Administrators from its last member', async () => {
    const org = await newOrg('users')
    await makeRole(org, 'Publishers', { apps: 15 })
    const password = await makeHuman(org, 'jdoe')
    const given = await call('PATCH', '/be/v1/users', {
      headers: org.headers,
      body: { username: 'jdoe', roles: ['Publishers', 'Administrators'] },
    })
    expect(given.status).toBe(200)
    expect(given.body.user.roles).toEqual(['Administrators', 'Publishers'])

    const jdoe = await signIn(org.orgName, 'jdoe', password)
    const strip = (username: string, headers: Record<string, string>) =>
      call('PATCH', '/be/v1/users', { headers, body: { username, roles: [] } })
    expect((await strip('admin', jdoe.headers)).status).toBe(200)
    const last = await strip('jdoe', jdoe.headers)
    expect(last.status).toBe(409)
    expect(last.body.code).toBe('conflict')
    const still = await call('GET', '/be/v1/users/jdoe', { headers: jdoe.headers })
    expect(still.body.user.roles).toContain('Administrators')
  })

  it('does not let a user manager take over an administrator', async () => {
    const org = await newOrg('users')
    await makeRole(org, 'UserAdmins', { beUsers: 15 })
    const manager = await makeMachine(org, 'manager', ['UserAdmins'])
    const takeover = await call('PATCH', '/be/v1/users', {
      headers: manager,
      body: { username: 'admin', resetCreds: true },
    })
    expect(takeover.status).toBe(403)
    const selfPromote = await call('PATCH', '/be/v1/users', {
      headers: manager,
      body: { username: 'manager', roles: ['UserAdmins', 'Administrators'] },
    })
    expect(selfPromote.status).toBe(403)
    const harmless = await call('PATCH', '/be/v1/users', {
      headers: manager,
      body: { username: 'admin', title: 'Boss' },
    })
    expect(harmless.status).toBe(200)
  })
})

describe('DELETE /be/v1/users/{username}', () => {
  it('deletes a user with its keys, and never the last administrator', async () => {
    const org = await newOrg('users')
    const robot = await makeMachine(org, 'robot')
    const gone = await call('DELETE', '/be/v1/users/robot', { headers: org.headers })
    expect(gone.status).toBe(200)
    expect(gone.body).toMatchObject({ status: 'success', message: 'user deleted' })
    expect((await call('GET', '/be/v1/users/robot', { headers: org.headers })).status).toBe(404)
    expect((await call('GET', '/be/v1/users/robot', { headers: robot })).status).toBe(401)
    expect((await call('DELETE', '/be/v1/users/robot', { headers: org.headers })).status).toBe(404)

    const last = await call('DELETE', '/be/v1/users/admin', { headers: org.headers })
    expect(last.status).toBe(409)

    const password = await makeHuman(org, 'second', ['Administrators'])
    const second = await signIn(org.orgName, 'second', password)
    const first = await call('DELETE', '/be/v1/users/admin', { headers: second.headers })
    expect(first.status).toBe(200)
    const self = await call('DELETE', '/be/v1/users/second', { headers: second.headers })
    expect(self.status).toBe(409)
  })

  it('needs beUsers.delete and stays inside the org', async () => {
    const org = await newOrg('users')
    const other = await newOrg('users')
    await makeHuman(other, 'stranger')
    await makeRole(org, 'Editors', { beUsers: 6 })
    const editor = await makeMachine(org, 'editor', ['Editors'])
    await makeHuman(org, 'victim')
    const refused = await call('DELETE', '/be/v1/users/victim', { headers: editor })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'beUsers.delete' }])
    const crossed = await call('DELETE', '/be/v1/users/stranger', { headers: org.headers })
    expect(crossed.status).toBe(404)
    const stillThere = await call('GET', '/be/v1/users/stranger', { headers: other.headers })
    expect(stillThere.status).toBe(200)
    expect((await call('DELETE', '/be/v1/users/victim')).status).toBe(401)
    const badName = await call('DELETE', '/be/v1/users/a', { headers: org.headers })
    expect(badName.status).toBe(400)
  })
})
