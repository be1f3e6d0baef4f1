import { jest } from '@jest/globals'
import { deliveryFor } from '../../src/engine/deliver.js'
import { BatchLandings } from '../../src/engine/landings.js'

describe('BatchLandings: readings of the server clock', () => {
  const files = [{ rel: 'a/1' }, { rel: 'a/2' }, { rel: 'a/3' }, { rel: 'b/1' }]
  const delivery = (rel: string) => deliveryFor('/srv', rel, 3, 0, false, 'tok')
  afterEach(() => jest.restoreAllMocks())

  it('asks one file per folder for the clock, and again once the reading is a few seconds old', () => {
    let now = 1000
    jest.spyOn(performance, 'now').mockImplementation(() => now)
    const landings = new BatchLandings('/srv', files, 'tok')
    expect(landings.wantsClock(delivery('a/1'))).toBe(true)
    expect(landings.wantsClock(delivery('a/2'))).toBe(false)
    // Another folder has its own clock reading.
    expect(landings.wantsClock(delivery('b/1'))).toBe(true)
    now += 4000
    expect(landings.wantsClock(delivery('a/3'))).toBe(false)
    now += 1500
    expect(landings.wantsClock(delivery('a/3'))).toBe(true)
  })

  it('keeps the newest reading per folder from the files that took one', () => {
    const landings = new BatchLandings('/srv', files, 'tok')
    const first = delivery('a/1')
    first.landedMtime = 500
    const later = delivery('a/2')
    later.landedMtime = 700
    const unread = delivery('a/3')
    landings.landed(later)
    landings.landed(first)
    landings.landed(unread)
    expect([...landings.serverNow()]).toEqual([['/srv/a', 700]])
  })
})
