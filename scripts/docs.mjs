// Regenerates the input and output tables in docs/inputs.md from action.yml, so the two never
// disagree. `node scripts/docs.mjs` rewrites docs/inputs.md; `--check` changes nothing and exits 1
// when docs/inputs.md is out of date (CI runs it as `npm run docs:check`). Both also fail on a
// broken relative link in the project's Markdown (scripts/links.mjs).
//
// The tables go between marker comments; the prose around them is written by hand:
//   <!-- inputs:start -->  ...  <!-- inputs:end -->
//   <!-- outputs:start --> ...  <!-- outputs:end -->
// Inputs are grouped by GROUPS below. An input no group names lands in "Other" rather than
// failing, so a new input in action.yml never breaks the build; add it to a group when it has a
// home. Tables are written without column padding (plain `| a | b |`) inside a prettier-ignore
// range: padded tables grow unreadable in diffs and in the raw file once a description is long.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as prettier from 'prettier'
import { parse } from 'yaml'
import { brokenLinks } from './links.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const ACTION = join(ROOT, 'action.yml')
const PAGE = join(ROOT, 'docs', 'inputs.md')
const PAGE_NAME = relative(ROOT, PAGE)

/**
 * Input groups, in page order. A name that action.yml does not (yet) define is skipped, so a
 * group may list an input before the change that adds it is merged.
 */
const GROUPS = [
  {
    title: 'Connection',
    inputs: [
      'host',
      'port',
      'username',
      'fingerprint',
      'private-key',
      'passphrase',
      'password',
      'timeout',
      'retries'
    ]
  },
  {
    title: 'Transfer',
    inputs: ['direction', 'source', 'target', 'select', 'concurrency', 'preserve', 'chmod']
  },
  {
    title: 'Relay destination',
    inputs: [
      'target-host',
      'target-port',
      'target-username',
      'target-fingerprint',
      'target-private-key',
      'target-passphrase',
      'target-password'
    ]
  },
  {
    title: 'Jump hosts',
    inputs: [
      'jump-host',
      'jump-port',
      'jump-username',
      'jump-fingerprint',
      'jump-private-key',
      'jump-passphrase',
      'jump-password',
      'target-jump-host',
      'target-jump-port',
      'target-jump-username',
      'target-jump-fingerprint',
      'target-jump-private-key',
      'target-jump-passphrase',
      'target-jump-password'
    ]
  },
  {
    title: 'Sync, verify and release',
    inputs: [
      'verify',
      'sync',
      'delete',
      'dry-run',
      'release',
      'release-id',
      'keep-releases',
      'rollback'
    ]
  }
]
const OTHER = 'Other'

/** Thrown for anything the user has to fix; printed without a stack trace. */
class DocsError extends Error {}

async function main(args) {
  const unknown = args.filter(a => a !== '--check')
  if (unknown.length > 0) {
    throw new DocsError(
      `unknown argument ${unknown.join(' ')}. Usage: node scripts/docs.mjs [--check]`
    )
  }
  checkGroups()
  const check = args.includes('--check')
  const action = readAction()
  const current = readFileSync(PAGE, 'utf8')
  const eol = current.includes('\r\n') ? '\r\n' : '\n'
  const text = current.replace(/\r\n/g, '\n')

  let updated = text
  const stale = []
  for (const [section, markdown] of [
    ['inputs', inputSections(action.inputs)],
    ['outputs', ignored(outputsTable(action.outputs))]
  ]) {
    const next = replaceSection(updated, section, await formatMarkdown(markdown))
    if (next !== updated) stale.push(section)
    updated = next
  }

  const broken = brokenLinks(ROOT)
  if (broken.length > 0) {
    console.error(`Broken links in the documentation:\n  ${broken.join('\n  ')}`)
    process.exitCode = 1
  }

  const tables = `the ${stale.join(' and ')} table${stale.length > 1 ? 's' : ''}`
  if (check) {
    if (stale.length > 0) {
      console.error(
        `${PAGE_NAME} is out of date: ${tables} ${stale.length > 1 ? 'do' : 'does'} not match ` +
          `action.yml.\nRun \`npm run docs\` and commit ${PAGE_NAME}.`
      )
      process.exitCode = 1
      return
    }
    console.log(`${PAGE_NAME} is up to date with action.yml.`)
    return
  }
  if (stale.length === 0) {
    console.log(`${PAGE_NAME} is already up to date with action.yml.`)
    return
  }
  writeFileSync(PAGE, updated.replace(/\n/g, eol))
  console.log(`${PAGE_NAME}: regenerated ${tables}.`)
}

function checkGroups() {
  const seen = new Set()
  for (const group of GROUPS) {
    for (const name of group.inputs) {
      if (seen.has(name)) throw new DocsError(`scripts/docs.mjs: '${name}' is in two groups.`)
      seen.add(name)
    }
  }
}

function readAction() {
  let action
  try {
    action = parse(readFileSync(ACTION, 'utf8'))
  } catch (err) {
    throw new DocsError(`cannot read action.yml: ${err.message}`)
  }
  if (!isObject(action)) throw new DocsError('action.yml does not hold a mapping.')
  for (const key of ['inputs', 'outputs']) {
    if (action[key] !== undefined && action[key] !== null && !isObject(action[key])) {
      throw new DocsError(`action.yml: '${key}' must be a mapping of names to definitions.`)
    }
  }
  return { inputs: action.inputs ?? {}, outputs: action.outputs ?? {} }
}

/** One `###` heading and table per group, in GROUPS order, then "Other" when anything is left. */
function inputSections(inputs) {
  const names = Object.keys(inputs)
  const grouped = new Set(GROUPS.flatMap(group => group.inputs))
  const sections = [
    ...GROUPS.map(group => ({
      title: group.title,
      names: group.inputs.filter(name => Object.hasOwn(inputs, name))
    })),
    { title: OTHER, names: names.filter(name => !grouped.has(name)) }
  ].filter(section => section.names.length > 0)
  return sections
    .map(({ title, names }) => `### ${title}\n\n${ignored(inputsTable(names, inputs))}`)
    .join('\n\n')
}

function inputsTable(names, inputs) {
  const rows = names.map(name => {
    const def = definition('input', name, inputs[name])
    const required = def.required === true || def.required === 'true' ? 'yes' : 'no'
    const fallback =
      def.default === undefined || def.default === null ? '' : code(String(def.default))
    let description = describe('input', name, def)
    if (def.deprecationMessage) {
      description = `**Deprecated:** ${inline(String(def.deprecationMessage))} ${description}`
    }
    return [code(name), required, fallback, description]
  })
  return table(['Input', 'Required', 'Default', 'Description'], rows)
}

function outputsTable(outputs) {
  const rows = Object.entries(outputs).map(([name, spec]) => [
    code(name),
    describe('output', name, definition('output', name, spec))
  ])
  return table(['Output', 'Description'], rows)
}

function definition(kind, name, spec) {
  if (!isObject(spec)) throw new DocsError(`action.yml: ${kind} '${name}' must be a mapping.`)
  return spec
}

function describe(kind, name, def) {
  const text = typeof def.description === 'string' ? inline(def.description) : ''
  if (!text) throw new DocsError(`action.yml: ${kind} '${name}' has no description.`)
  return text
}

/** One table cell: line breaks become spaces and `|` is escaped; backticks stay as written. */
function inline(text) {
  return text
    .trim()
    .replace(/\s*\r?\n\s*/g, ' ')
    .replace(/\|/g, '\\|')
}

/** A code span that survives backticks in the value itself. */
function code(value) {
  const text = inline(value)
  if (text === '') return "`''`"
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map(run => run.length))
  const fence = '`'.repeat(longestRun + 1)
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : ''
  return `${fence}${pad}${text}${pad}${fence}`
}

/** Rows as written, one space around each cell: Prettier would pad every column to one width. */
function table(header, rows) {
  const line = cells => `|${cells.map(cell => (cell === '' ? ' ' : ` ${cell} `)).join('|')}|`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

function ignored(markdown) {
  return `<!-- prettier-ignore-start -->\n${markdown}\n<!-- prettier-ignore-end -->`
}

/** Headings and blank lines as Prettier writes them, so `prettier --check` agrees. */
async function formatMarkdown(markdown) {
  const config = (await prettier.resolveConfig(PAGE)) ?? {}
  return (await prettier.format(markdown, { ...config, filepath: PAGE })).trimEnd()
}

function replaceSection(text, section, body) {
  const start = `<!-- ${section}:start -->`
  const end = `<!-- ${section}:end -->`
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from === -1 || to === -1) {
    throw new DocsError(
      `${PAGE_NAME} has no '${start}' ... '${end}' markers; add them where the ${section} go.`
    )
  }
  if (text.indexOf(start, from + 1) !== -1 || text.indexOf(end, to + 1) !== -1) {
    throw new DocsError(`${PAGE_NAME} has the ${section} markers more than once.`)
  }
  if (to < from) throw new DocsError(`${PAGE_NAME}: '${end}' comes before '${start}'.`)
  return `${text.slice(0, from + start.length)}\n\n${body}\n\n${text.slice(to)}`
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

main(process.argv.slice(2)).catch(err => {
  if (err instanceof DocsError) console.error(`docs: ${err.message}`)
  else console.error(err)
  process.exitCode = 1
})
