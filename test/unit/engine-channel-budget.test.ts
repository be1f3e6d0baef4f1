import { ChannelBudget, knownChannelCap } from '../../src/engine/channel-budget.js'

describe('knownChannelCap', () => {
  test("ProFTPD's mod_sftp: 10 channels, never probed past (a refusal drops the connection)", () => {
    expect(knownChannelCap('mod_sftp')).toBe(10)
    expect(knownChannelCap('mod_sftp/1.1.1')).toBe(10)
  })

  test('other servers: learnt from refusals', () => {
    for (const software of ['OpenSSH_9.2p1', 'dropbear_2022.83', 'ssh2js1.17.0', undefined]) {
      expect(knownChannelCap(software)).toBe(Infinity)
    }
  })
})

test('a budget made with a known limit never lets more channels open at once', async () => {
  const budget = new ChannelBudget(2)
  await budget.take()
  await budget.take()
  let third = false
  const waiting = budget.take().then(() => (third = true))
  await new Promise(resolve => setImmediate(resolve))
  expect(third).toBe(false)
  budget.opened()
  budget.opened()
  budget.closed()
  await waiting
  expect(third).toBe(true)
})
