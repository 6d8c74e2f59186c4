/**
 * Just enough XML reading for origin answers (S3 listings and errors, NetStorage `dir` and
 * `stat`). Workers have no DOM parser; these answers are flat and machine-written, so matching
 * elements by name is reliable and keeps a parser dependency out of the Worker.
 */

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

/** Replaces XML entities (`&amp;`, `&#47;`, `&#x2F;`) with their characters. */
export function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16))
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10))
    return entities[name] ?? whole
  })
}

/** The decoded text of every `<tag>...</tag>` in `xml`, in document order. */
export function xmlTexts(xml: string, tag: string): string[] {
  const pattern = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g')
  return [...xml.matchAll(pattern)].map((match) => decodeXml(match[1]))
}

/** The first `<tag>` text, or undefined. */
export function xmlText(xml: string, tag: string): string | undefined {
  return xmlTexts(xml, tag)[0]
}

/** The decoded attributes of every `<element ...>` in `xml`. */
export function xmlElements(xml: string, element: string): Record<string, string>[] {
  const pattern = new RegExp(`<${element}\\s([^>]*?)/?>`, 'g')
  return [...xml.matchAll(pattern)].map((match) => {
    const attributes: Record<string, string> = {}
    for (const attribute of match[1].matchAll(/([\w:-]+)\s*=\s*"([^"]*)"/g)) {
      attributes[attribute[1]] = decodeXml(attribute[2])
    }
    return attributes
  })
}
