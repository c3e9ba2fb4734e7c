/** Encrypts values at rest (secrets, mail passwords, signing secrets). */
export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
  /**
   * A short keyed digest (8 characters of base32) of `value` under a key derived from the
   * instance secret for `purpose`: what makes a ticket's subject token unguessable.
   */
  keyedDigest(purpose: string, value: string): string;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
}

/** Random, unguessable identifiers and tokens. */
export interface Ids {
  eventId(): string;
  /** A URL-safe random token with the given prefix (e.g. `dhk_`). */
  token(prefix: string): string;
  /** Raw random bytes, e.g. for signing secrets. */
  randomBytes(length: number): Buffer;
  /** A stable, non-reversible digest of a token, for lookups. */
  digest(token: string): string;
}
