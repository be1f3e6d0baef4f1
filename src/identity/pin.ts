/**
 * One host key pin, as both the parser (pins.ts) and the verdict (verdict.ts) see it: a module of
 * its own so neither imports the other.
 */
export type PinForm = 'sha256' | 'md5' | 'key'

export interface Pin {
  form: PinForm
  /** sha256: unpadded base64 digest; md5: lowercase hex without colons; key: base64 of the blob */
  value: string
  /** Key type when the pin says it (ssh-keygen -l type, .pub or known_hosts line), else undefined */
  keyType?: string
  /** Host patterns from a known_hosts line; undefined for a bare pin that applies to any host */
  hosts?: string[]
  revoked: boolean
  /** 1-based line number in the input, for messages */
  line: number
  /** What to show in logs: e.g. 'SHA256:abc… (line 2)' — never the whole blob */
  label: string
}
