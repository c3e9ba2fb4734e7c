import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, randomUUID, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Ids, PasswordHasher, SecretBox } from '../../app/ports/crypto.ts';

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));

/**
 * AES-256-GCM with a random 96-bit nonce per value. Format `v1:<nonce>:<tag>:<ciphertext>`
 * (base64url), so a future key or algorithm can be told apart by its prefix.
 */
export class AesGcmSecretBox implements SecretBox {
  private readonly key: Buffer;

  constructor(keyBase64: string) {
    this.key = Buffer.from(keyBase64, 'base64');
    if (this.key.length !== 32) throw new Error('the secret key must be 32 bytes');
  }

  seal(plain: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', nonce.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join(':');
  }

  open(sealed: string): string {
    const [version, nonce, tag, body] = sealed.split(':');
    if (version !== 'v1' || !nonce || !tag || body === undefined) throw new Error('not a sealed value');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(nonce, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }

  keyedDigest(purpose: string, value: string): string {
    // HKDF gives each purpose its own key, so this digest never helps against the sealing key.
    const key = Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), `deskhook ${purpose}`, 32));
    return base32(createHmac('sha256', key).update(value).digest()).slice(0, 8);
  }
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

export function generateSecretKey(): string {
  return randomBytes(32).toString('base64');
}

// OWASP's scrypt floor (N=2^17, r=8, p=1) costs ~128 MiB and ~0.3 s per login on these machines;
// N=2^15 keeps a login near 60 ms with 32 MiB and is stored with the hash, so it can be raised later.
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** scrypt hashes stored as `scrypt$N$r$p$salt$hash`. */
export class ScryptHasher implements PasswordHasher {
  constructor(private readonly params: { N: number; r: number; p: number; maxmem: number } = SCRYPT) {}

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await scrypt(password, salt, 32, this.params);
    const { N, r, p } = this.params;
    return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const [scheme, n, r, p, salt, hash] = stored.split('$');
    if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
    const expected = Buffer.from(hash, 'base64url');
    const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
      N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024,
    });
    return key.length === expected.length && timingSafeEqual(key, expected);
  }
}

export const nodeIds: Ids = {
  eventId: () => `evt_${randomUUID().replaceAll('-', '')}`,
  token: (prefix) => `${prefix}${randomBytes(24).toString('base64url')}`,
  randomBytes: (length) => randomBytes(length),
  // Tokens carry 192 random bits, so a fast digest is enough: no dictionary to defend against.
  digest: (token) => createHash('sha256').update(token).digest('hex'),
};
