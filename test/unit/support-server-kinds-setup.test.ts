import {
  ensureServerKinds,
  planServerKinds,
  probeServerKinds,
  type ServerKindsProbe
} from '../support/server-kinds-setup.mjs'

// The setup's decision for dropbear and ProFTPD (test/support/server-kinds-setup.mjs), with a
// recording apt-get that "installs" by changing what the next probe finds.

const installed: ServerKindsProbe = {
  dropbear: true,
  sftpServer: true,
  proftpd: true,
  modSftp: true,
  aptGet: '/usr/bin/apt-get',
  root: true
}
const fresh: ServerKindsProbe = {
  ...installed,
  dropbear: false,
  proftpd: false,
  modSftp: false
}

test('this machine has them (the integration tests run them)', () => {
  expect(planServerKinds(probeServerKinds())).toEqual({ kind: 'ready' })
})

test('as root with apt-get: installs exactly the missing packages', () => {
  expect(planServerKinds(fresh)).toEqual({
    kind: 'install',
    aptGet: '/usr/bin/apt-get',
    pkgs: ['dropbear-bin', 'proftpd-core', 'proftpd-mod-crypto']
  })
  expect(planServerKinds({ ...installed, modSftp: false })).toMatchObject({
    pkgs: ['proftpd-mod-crypto']
  })
})

test('not root, or no apt-get: fails at once with the command to run', () => {
  expect(planServerKinds({ ...fresh, root: false })).toEqual({
    kind: 'fail',
    message:
      "dropbear or ProFTPD's mod_sftp not found: the tests run them as well as OpenSSH. Install them with: sudo apt-get install -y dropbear-bin proftpd-core proftpd-mod-crypto"
  })
  const plan = planServerKinds({ ...installed, dropbear: false, aptGet: undefined })
  expect(plan.kind === 'fail' && plan.message).toMatch(/sudo apt-get install -y dropbear-bin$/)
})

describe('ensureServerKinds', () => {
  function fakeMachine(probe: ServerKindsProbe, failing?: string) {
    let current = probe
    const calls: string[] = []
    const said: string[] = []
    const held: string[] = []
    const deps = {
      probe: () => current,
      run: async (file: string, args: string[]) => {
        calls.push(`${file} ${args.join(' ')}`)
        if (args[0] === failing) return { code: 100, output: 'E: no' }
        if (args[0] === 'install') current = { ...installed }
        return { code: 0, output: '' }
      },
      say: (line: string) => said.push(line),
      holdServices: () => {
        held.push('hold')
        return () => held.push('release')
      }
    }
    return { deps, calls, said, held }
  }

  test('installs with services held, says so in one line', async () => {
    const machine = fakeMachine(fresh)
    await ensureServerKinds(machine.deps)
    expect(machine.calls).toEqual([
      '/usr/bin/apt-get update -qq',
      '/usr/bin/apt-get install -y -qq --no-install-recommends dropbear-bin proftpd-core proftpd-mod-crypto'
    ])
    expect(machine.said).toHaveLength(1)
    expect(machine.said[0]).not.toContain('\n')
    expect(machine.held).toEqual(['hold', 'release'])
  })

  test('nothing to do: no apt-get, nothing said', async () => {
    const machine = fakeMachine(installed)
    await ensureServerKinds(machine.deps)
    expect([...machine.calls, ...machine.said, ...machine.held]).toEqual([])
  })

  test('a failed install stops with the command, and releases the hold', async () => {
    const machine = fakeMachine(fresh, 'install')
    await expect(ensureServerKinds(machine.deps)).rejects.toThrow(
      /failed \(100\); install them yourself: sudo apt-get install -y dropbear-bin/
    )
    expect(machine.held).toEqual(['hold', 'release'])
  })
})
