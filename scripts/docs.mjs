// Regenerates the Inputs and Outputs tables in README.md from action.yml, so the two never
// disagree. `node scripts/docs.mjs` rewrites README.md; `--check` changes nothing and exits 1
// when README.md is out of date (CI runs it as `npm run docs:check`).
//
// The tables go between marker comments:
//   <!-- inputs:start -->  ...  <!-- inputs:end -->
//   <!-- outputs:start --> ...  <!-- outputs:end -->
// and are formatted with the project's Prettier config, so `prettier --check` agrees with them.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as prettier from 'prettier'
import { parse } from 'yaml'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const ACTION = join(ROOT, 'action.yml')
const README = join(ROOT, 'README.md')

/** Thrown for anything the user has to fix; printed without a stack trace. */
class DocsError extends Error {}

async function main(args) {
  const unknown = args.filter(a => a !== '--check')
  if (unknown.length > 0) {
    throw new DocsError(
      `unknown argument ${unknown.join(' ')}. Usage: node scripts/docs.mjs [--check]`
    )
  }
  const check = args.includes('--check')
  const action = readAction()
  const current = readFileSync(README, 'utf8')
  const eol = current.includes('\r\n') ? '\r\n' : '\n'
  const text = current.replace(/\r\n/g, '\n')

  let updated = text
  const stale = []
  for (const [section, table] of [
    ['inputs', inputsTable(action.inputs)],
    ['outputs', outputsTable(action.outputs)]
  ]) {
    const formatted = await formatMarkdown(table)
    const next = replaceSection(updated, section, formatted)
    if (next !== updated) stale.push(section)
    updated = next
  }

  if (check) {
    if (stale.length > 0) {
      console.error(
        `README.md is out of date: the ${stale.join(' and ')} table${stale.length > 1 ? 's do' : ' does'} ` +
          'not match action.yml.\nRun `npm run docs` and commit README.md.'
      )
      process.exitCode = 1
      return
    }
    console.log('README.md is up to date with action.yml.')
    return
  }
  if (stale.length === 0) {
    console.log('README.md is already up to date with action.yml.')
    return
  }
  writeFileSync(README, updated.replace(/\n/g, eol))
  console.log(
    `README.md: regenerated the ${stale.join(' and ')} table${stale.length > 1 ? 's' : ''}.`
  )
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

function inputsTable(inputs) {
  const rows = Object.entries(inputs).map(([name, spec]) => {
    const def = definition('input', name, spec)
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

function table(header, rows) {
  const line = cells => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

async function formatMarkdown(markdown) {
  const config = (await prettier.resolveConfig(README)) ?? {}
  return (await prettier.format(markdown, { ...config, filepath: README })).trimEnd()
}

function replaceSection(text, section, body) {
  const start = `<!-- ${section}:start -->`
  const end = `<!-- ${section}:end -->`
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from === -1 || to === -1) {
    throw new DocsError(
      `README.md has no '${start}' ... '${end}' markers; add them where the ${section} table goes.`
    )
  }
  if (text.indexOf(start, from + 1) !== -1 || text.indexOf(end, to + 1) !== -1) {
    throw new DocsError(`README.md has the ${section} markers more than once.`)
  }
  if (to < from) throw new DocsError(`README.md: '${end}' comes before '${start}'.`)
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
