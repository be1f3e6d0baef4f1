/**
 * Renders a job summary (the HTML that @actions/core's `core.summary` writes to
 * GITHUB_STEP_SUMMARY) as plain text: headings as `###`, tables as aligned columns, other markup
 * stripped, entities decoded.
 */
import { columns } from './print.js'

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' '
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code =
        name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : Number(name.slice(1))
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole
    }
    return ENTITIES[name.toLowerCase()] ?? whole
  })
}

/** Inline markup to text: <code> becomes `backticks`, <br> a space, other tags vanish. */
function inline(html: string): string {
  return decodeEntities(
    html
      .replace(/<br\s*\/?>/gi, ' ')
      .replace(/<\/?code>/gi, '`')
      .replace(/<[^>]*>/g, '')
  )
    .replace(/\s+/g, ' ')
    .trim()
}

function renderTable(html: string): string[] {
  const rows: string[][] = []
  let headerRows = 0
  for (const row of html.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/gi)) {
    const cells = [...row[1].matchAll(/<t([hd])[^>]*>([\s\S]*?)<\/t[hd]>/gi)]
    if (cells.length === 0) continue
    if (cells.every(c => c[1].toLowerCase() === 'h') && rows.length === headerRows) headerRows++
    rows.push(cells.map(c => inline(c[2])))
  }
  if (headerRows > 0) {
    const width = Math.max(...rows.map(r => r.length))
    const rule = Array.from({ length: width }, (_, i) =>
      '-'.repeat(Math.max(...rows.map(r => (r[i] ?? '').length)))
    )
    rows.splice(headerRows, 0, rule)
  }
  return columns(rows)
}

export function summaryToText(html: string): string {
  const lines: string[] = []
  const block = /<h([1-6])[^>]*>([\s\S]*?)<\/h\1>|<table[^>]*>([\s\S]*?)<\/table>/gi
  let last = 0
  const text = (chunk: string): void => {
    for (const line of chunk.split(/<br\s*\/?>|\n/i)) {
      const t = inline(line)
      if (t) lines.push(t)
    }
  }
  for (const match of html.matchAll(block)) {
    text(html.slice(last, match.index))
    last = match.index + match[0].length
    if (match[1] !== undefined) {
      if (lines.length > 0) lines.push('')
      lines.push(`${'#'.repeat(Number(match[1]))} ${inline(match[2])}`)
    } else {
      lines.push(...renderTable(match[3]))
    }
  }
  text(html.slice(last))
  return lines.join('\n')
}
