/**
 * Where things live in R2 and on origins. Everything of an org sits under `orgs/<orgId>/`, so
 * deleting an org or an app is a prefix delete. Origins and the depot use the public layout of
 * API.md: `dxf/<orgName>/<appName>/<iCurBuild>/<dxfName>/` and
 * `pat/<orgName>/<appName>/<toBuildId>/<fromBuildId>/`, build ids 4 digits zero padded.
 */

/** `7` -> `0007`. */
export function buildIdText(buildId: number): string {
  return String(buildId).padStart(4, '0')
}

/** The name of image number `n` of a build: `dxf-0001-01` (01 is the native image from mkraw). */
export function dxfNameOf(buildId: number, n: number): string {
  return `dxf-${buildIdText(buildId)}-${String(n).padStart(2, '0')}`
}

export const orgPrefix = (orgId: string) => `orgs/${orgId}/`
export const appPrefix = (orgId: string, appId: string) => `orgs/${orgId}/apps/${appId}/`

/** R2 keys of one build: its tar, file table and block table (written by mkraw). */
export function buildKeys(orgId: string, appId: string, buildId: number) {
  const base = `${appPrefix(orgId, appId)}builds/${buildIdText(buildId)}/`
  return {
    prefix: base,
    tar: `${base}build.tar`,
    files: `${base}files.json`,
    blocks: `${base}blocks.bin`,
  }
}

/** R2 keys of one image: `image.dxf` and `profile.json`. */
export function imageKeys(orgId: string, appId: string, dxfName: string) {
  const base = `${appPrefix(orgId, appId)}images/${dxfName}/`
  return { prefix: base, image: `${base}image.dxf`, profile: `${base}profile.json` }
}

/** R2 key of the patch from build `from` to build `to`. */
export function patchKey(orgId: string, appId: string, toBuildId: number, fromBuildId: number) {
  return `${appPrefix(orgId, appId)}patches/${buildIdText(toBuildId)}/${buildIdText(fromBuildId)}/patch.dxf`
}

/** R2 keys of an app's traces and training aggregates. */
export function traceKeys(orgId: string, appId: string, traceId: string) {
  const base = `${appPrefix(orgId, appId)}traces/${traceId}/`
  return { raw: `${base}raw.ndjson`, normalised: `${base}normalised.bin` }
}

export function statsKey(orgId: string, appId: string, buildId: number) {
  return `${appPrefix(orgId, appId)}training/${buildIdText(buildId)}/stats.bin`
}

/** Public path of an image directory (origins prepend `originPrefix/`, the depot `/depot/`). */
export function publicImageDir(orgName: string, appName: string, buildId: number, dxfName: string) {
  return `dxf/${orgName}/${appName}/${buildIdText(buildId)}/${dxfName}/`
}

/** Public path of a patch directory. */
export function publicPatchDir(
  orgName: string,
  appName: string,
  toBuildId: number,
  fromBuildId: number,
) {
  return `pat/${orgName}/${appName}/${buildIdText(toBuildId)}/${buildIdText(fromBuildId)}/`
}
