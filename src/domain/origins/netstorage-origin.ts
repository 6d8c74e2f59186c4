/**
 * An Akamai NetStorage origin through its HTTP API: `upload` (PUT), `download` and `stat` and
 * `dir` (GET), `delete` (POST), each signed by `netstorage-sign.ts`. Files live at
 * `/<cpCode>/<path>`. NetStorage takes whole files only (no multipart), streamed.
 */

import { netStorageHeaders } from './netstorage-sign'
import {
  bodySnippet,
  encodeKey,
  type Origin,
  type OriginBody,
  type OriginError,
  reach,
  readAtMost,
  sizedBody,
  statusError,
} from './origin'
import { xmlElements } from './xml'

/** The settings of a NetStorage origin with its key opened. `host` is `scheme://host[:port]`. */
export interface NetStorageSettings {
  host: string
  keyName: string
  key: string
  cpCode: string
}

/** Where a `dir` walk stands: directories still to read. */
interface DirWalk {
  dirs: string[]
}

/** An origin over the NetStorage HTTP API. */
export function netStorageOrigin(settings: NetStorageSettings): Origin {
  const where = `${new URL(settings.host).host}/${settings.cpCode}`

  async function call(
    method: string,
    path: string,
    action: string,
    init: { body?: BodyInit; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const urlPath = `/${settings.cpCode}/${encodeKey(path)}`
    const auth = await netStorageHeaders({
      keyName: settings.keyName,
      key: settings.key,
      path: urlPath,
      action,
    })
    return reach(where, () =>
      fetch(`${settings.host}${urlPath}`, {
        method,
        headers: { ...init.headers, ...auth },
        body: init.body,
      }),
    )
  }

  async function failure(response: Response, what: string): Promise<OriginError> {
    const text = (await bodySnippet(response, 300)).replace(/\s+/g, ' ').trim()
    const hint = response.status === 403 ? ': check keyName and key' : ''
    return statusError(
      response.status,
      `NetStorage ${what} on ${where} answered ${response.status}${hint}${text ? ` (${text})` : ''}`,
    )
  }

  return {
    type: 'netstorage',
    where,

    async put(path, body: OriginBody, size, contentType) {
      const response = await call('PUT', path, 'version=1&action=upload&upload-type=binary', {
        headers: { 'content-type': contentType },
        body: sizedBody(body, size),
      })
      if (!response.ok) throw await failure(response, `upload ${path}`)
      await response.body?.cancel()
    },

    async head(path) {
      const response = await call('GET', path, 'version=1&action=stat&format=xml')
      if (response.status === 404) return null
      if (!response.ok) throw await failure(response, `stat ${path}`)
      const file = xmlElements(await response.text(), 'file').find((f) => f.type === 'file')
      return file ? { size: Number(file.size ?? 0), etag: file.md5 } : null
    },

    async getRange(path, offset, length) {
      const response = await call('GET', path, 'version=1&action=download', {
        headers: { range: `bytes=${offset}-${offset + length - 1}` },
      })
      if (response.status >= 300) throw await failure(response, `ranged download ${path}`)
      return { status: response.status, bytes: await readAtMost(response.body, length) }
    },

    async delete(path) {
      const response = await call('POST', path, 'version=1&action=delete')
      if (response.status === 404) return
      if (!response.ok) throw await failure(response, `delete ${path}`)
      await response.body?.cancel()
    },

    async list(prefix, next) {
      const walk: DirWalk = next ? JSON.parse(next) : { dirs: [prefix.replace(/\/+$/, '')] }
      const dir = walk.dirs.shift()
      if (dir === undefined) return { keys: [] }

      const response = await call('GET', dir, 'version=1&action=dir&format=xml')
      const keys: string[] = []
      if (response.status === 404) {
        await response.body?.cancel()
      } else if (!response.ok) {
        throw await failure(response, `dir ${dir}`)
      } else {
        const entries = xmlElements(await response.text(), 'file')
        for (const entry of entries) {
          if (!entry.name) continue
          if (entry.type === 'dir') walk.dirs.push(`${dir}/${entry.name}`)
          else if (entry.type === 'file') keys.push(`${dir}/${entry.name}`)
        }
      }
      keys.sort()
      return { keys, next: walk.dirs.length ? JSON.stringify(walk) : undefined }
    },
  }
}
