// Checks the relative links in the project's Markdown: every linked file exists, and every
// `#anchor` names a heading of the linked page (GitHub's slugs). Used by scripts/docs.mjs, so
// `npm run docs:check` catches a link broken by a moved page or a renamed heading.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const PAGES = ['README.md', 'CONTRIBUTING.md', 'demo/README.md', 'bench/README.md', 'docs']

/** Every broken link as `page: link (why)`, in a stable order. */
export function brokenLinks(root) {
  const broken = []
  for (const page of markdownFiles(root)) {
    for (const link of linksIn(readFileSync(page, 'utf8'))) {
      const why = checkLink(page, link)
      if (why) broken.push(`${relative(root, page)}: ${link} (${why})`)
    }
  }
  return broken
}

function markdownFiles(root) {
  const files = []
  const walk = path => {
    if (!existsSync(path)) return
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) walk(join(path, name))
    } else if (path.endsWith('.md')) {
      files.push(path)
    }
  }
  for (const page of PAGES) walk(join(root, page))
  return files
}

/** Link targets outside code blocks and code spans, without external or mail links. */
function linksIn(markdown) {
  const prose = markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/`[^`\n]*`/g, '')
  const links = [...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map(m => m[1])
  return links.filter(link => !/^[a-z][a-z0-9+.-]*:/i.test(link))
}

function checkLink(page, link) {
  const [file, anchor] = link.split('#', 2)
  const target = file === '' ? page : resolve(dirname(page), decodeURIComponent(file))
  if (!existsSync(target)) return 'no such file'
  if (anchor === undefined || anchor === '') return undefined
  if (!target.endsWith('.md')) return 'an anchor into a file that is not Markdown'
  if (!slugsOf(readFileSync(target, 'utf8')).has(decodeURIComponent(anchor))) {
    return 'no such heading'
  }
  return undefined
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to '-', repeats numbered. */
function slugsOf(markdown) {
  const slugs = new Set()
  const counts = new Map()
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
  for (const [, heading] of prose.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[`*]/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const seen = counts.get(base) ?? 0
    counts.set(base, seen + 1)
    slugs.add(seen === 0 ? base : `${base}-${seen}`)
  }
  return slugs
}
