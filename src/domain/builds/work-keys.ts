/**
 * R2 keys of the objects mkraw needs only while it runs (tails of appended tables, the image
 * header, block lists). They sit under the build's `work/` folder, which goes when mkraw ends.
 */
import { buildIdText, buildKeys } from '../../storage/keys'

export function workKeys(orgId: string, appId: string, buildId: number) {
  const prefix = `${buildKeys(orgId, appId, buildId).prefix}work/`
  return {
    prefix,
    filesTail: `${prefix}files-tail-`,
    blocksTail: `${prefix}blocks-tail-`,
    geometry: `${prefix}geometry.bin`,
    imageHeader: `${prefix}image-header.bin`,
    imageList: `${prefix}image-order.bin`,
    patchHeader: (fromBuildId: number) => `${prefix}patch-${buildIdText(fromBuildId)}-header.bin`,
    patchList: (fromBuildId: number) => `${prefix}patch-${buildIdText(fromBuildId)}-blocks.bin`,
  }
}
