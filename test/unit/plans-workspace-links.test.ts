import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { InputError } from '../../src/errors.js'
import { isWithin, linkBoundary, linkRefusal } from '../../src/plans/workspace-links.js'
import { thrown } from './real-keys.js'

let top: string
let ws: string
let outside: string

beforeAll(() => {
  top = realpathSync(mkdtempSync(path.join(tmpdir(), 'unit-links-')))
  ws = path.join(top, 'ws')
  outside = path.join(top, 'outside')
  mkdirSync(path.join(ws, 'real/deep'), { recursive: true })
  mkdirSync(path.join(outside, 'build'), { recursive: true })
  writeFileSync(path.join(outside, 'secret'), 'secret')
  symlinkSync(outside, path.join(ws, 'out'))
  symlinkSync('real', path.join(ws, 'inner'))
  symlinkSync(path.join(outside, 'secret'), path.join(ws, 'real', 'key'))
  // A second spelling of the workspace, as /tmp is of /private/tmp on macOS.
  symlinkSync(ws, path.join(top, 'ws-alias'))
  symlinkSync(outside, path.join(top, 'outside-alias'))
})

afterAll(() => rmSync(top, { recursive: true, force: true }))

function refusal(workspace: string, root: string): InputError {
  const error = thrown(() => linkBoundary(workspace, root))
  expect(error).toBeInstanceOf(InputError)
  return error as InputError
}

describe('linkBoundary', () => {
  it('keeps a source inside the workspace within the real workspace', () => {
    const boundary = linkBoundary(ws, path.join(ws, 'real/deep'))
    expect(boundary.roots).toEqual([ws])
    expect(isWithin(boundary, path.join(ws, 'real'))).toBe(true)
    expect(isWithin(boundary, ws)).toBe(true)
    expect(isWithin(boundary, outside)).toBe(false)
    expect(isWithin(boundary, `${ws}-sibling`)).toBe(false)
  })

  it('lets a link that stays inside the workspace lead to the source', () => {
    expect(linkBoundary(ws, path.join(ws, 'inner/deep')).roots).toEqual([ws])
  })

  it('refuses a source that is a link out of the workspace, naming it and its target', () => {
    const error = refusal(ws, path.join(ws, 'out'))
    expect(error.input).toBe('source')
    expect(error.message).toContain(`'out' is a symbolic link that leads outside the workspace`)
    expect(error.message).toContain(`(to ${outside})`)
  })

  it('refuses a link in the middle of the path, and a file link as the source', () => {
    expect(refusal(ws, path.join(ws, 'out/build')).message).toMatch(/'out' is a symbolic link/)
    expect(refusal(ws, path.join(ws, 'real/key')).message).toContain(
      `'real/key' is a symbolic link that leads outside the workspace (to ${path.join(outside, 'secret')})`
    )
  })

  it('checks a source written through the real spelling of a linked workspace too', () => {
    const alias = path.join(top, 'ws-alias')
    expect(refusal(alias, path.join(ws, 'out')).message).toMatch(/'out' is a symbolic link/)
    expect(refusal(alias, path.join(alias, 'out/build')).message).toMatch(/'out'/)
    expect(linkBoundary(alias, path.join(alias, 'real')).roots).toEqual([ws])
  })

  it('takes a source written outside the workspace as written, its own links included', () => {
    const boundary = linkBoundary(ws, path.join(top, 'outside-alias', 'build'))
    expect(boundary.roots).toEqual([path.join(outside, 'build'), ws])
    expect(boundary.described).toContain(path.join(outside, 'build'))
    expect(isWithin(boundary, path.join(outside, 'build', 'x'))).toBe(true)
    expect(isWithin(boundary, path.join(ws, 'real'))).toBe(true)
    expect(isWithin(boundary, path.join(outside, 'secret'))).toBe(false)
  })

  it('reads `..` as written: a path leaving the workspace by name is the author’s choice', () => {
    const boundary = linkBoundary(ws, path.resolve(ws, '../outside/build'))
    expect(boundary.roots[0]).toBe(path.join(outside, 'build'))
  })

  it('names why a link is refused: outside, or into a .git folder', () => {
    const inside = linkBoundary(ws, path.join(ws, 'real'))
    expect(linkRefusal(inside, path.join(ws, 'real/deep'))).toBeUndefined()
    expect(linkRefusal(inside, outside)).toBe('leads outside the workspace')
    expect(linkRefusal(inside, path.join(ws, '.git/config'))).toMatch(/into a \.git folder/)
    expect(linkRefusal(inside, path.join(ws, 'sub/.git'))).toMatch(/into a \.git folder/)
    expect(linkRefusal(inside, path.join(ws, '.github/workflows'))).toBeUndefined()
  })

  it('leaves a missing source to the "matches no file" check', () => {
    expect(linkBoundary(ws, path.join(ws, 'nope/deeper')).roots).toEqual([ws])
  })

  it('escapes control characters in the names it shows', () => {
    const name = 'evil\n::error::x'
    symlinkSync(outside, path.join(ws, name))
    try {
      const message = refusal(ws, path.join(ws, name)).message
      expect(message).not.toContain('\n')
      expect(message).toContain('evil\\n::error::x')
    } finally {
      rmSync(path.join(ws, name))
    }
  })
})
