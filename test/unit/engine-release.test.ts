import { releaseOfLink } from '../../src/engine/release.js'

describe('releaseOfLink', () => {
  it('reads the release a current link names, however the path is spelt', () => {
    const id = '20261125T160102.345Z-9f3a0c-abc1234'
    for (const text of [
      `releases/${id}`,
      `releases/${id}/`,
      `releases//${id}`,
      `releases/./${id}`,
      `./releases/${id}`,
      `/srv/app/releases/${id}`,
      `releases/x/../${id}`
    ]) {
      expect(releaseOfLink(text)).toBe(id)
    }
  })

  it('names no release for a link elsewhere', () => {
    for (const text of ['', 'elsewhere/x', 'releases', 'releases/', `releases/a/b`]) {
      expect(releaseOfLink(text)).toBeUndefined()
    }
  })
})
