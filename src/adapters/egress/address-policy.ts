import { isIPv6 } from 'node:net';

// Pure address rules of the egress guard: IP literal parsing in every spelling a resolver or
// URL parser accepts, classification of special-purpose ranges, and the allow-list policy.
// The policy is only ever asked about the address a socket is about to connect to; spelling
// tricks can therefore never reach an unchecked address, they can only miss an allow entry.

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'linkLocal'
  | 'cgnat'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'metadata'
  | 'uniqueLocal'
  | 'reserved';

export type EgressDecision =
  | { allowed: true; addressClass: AddressClass }
  | { allowed: false; reason: string; addressClass?: AddressClass };

interface Address {
  family: 4 | 6;
  value: bigint;
}

const MASK32 = 0xffffffffn;
const bitsOf = (family: 4 | 6): number => (family === 4 ? 32 : 128);

// WHATWG/inet_aton number: 0x hex (empty digits mean 0), leading 0 octal, else decimal.
function parseIPv4Part(part: string): number | null {
  if (/^0x[0-9a-f]*$/.test(part)) return part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
  if (/^0[0-7]+$/.test(part)) return Number.parseInt(part.slice(1), 8);
  if (/^(?:0|[1-9]\d*)$/.test(part)) return Number(part);
  return null;
}

// Accepts 1 to 4 parts; the last part fills all remaining bytes (127.1 = 127.0.0.1,
// 2130706434 = 127.0.0.2), as WHATWG URL and the C resolver do.
function parseLooseIPv4(host: string): bigint | null {
  const parts = host.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return null;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = parseIPv4Part(part);
    if (n === null || !Number.isSafeInteger(n)) return null;
    numbers.push(n);
  }
  const last = numbers.pop() as number;
  if (numbers.some((n) => n > 255) || last >= 256 ** (4 - numbers.length)) return null;
  let value = BigInt(last);
  numbers.forEach((n, i) => (value += BigInt(n) << BigInt(8 * (3 - i))));
  return value;
}

function parseIPv6(text: string): bigint | null {
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!isIPv6(s)) return null;
  if (s.includes('.')) {
    const cut = s.lastIndexOf(':') + 1;
    const v4 = Number(parseLooseIPv4(s.slice(cut)));
    s = `${s.slice(0, cut)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

function parseAddress(host: string): Address | null {
  const h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) {
    const v6 = parseIPv6(h.slice(1, -1));
    return v6 === null ? null : { family: 6, value: v6 };
  }
  if (h.includes(':')) {
    const v6 = parseIPv6(h);
    return v6 === null ? null : { family: 6, value: v6 };
  }
  const v4 = parseLooseIPv4(h);
  return v4 === null ? null : { family: 4, value: v4 };
}

// IPv6 text as WHATWG URL serialises it: lowercase hex, the first longest run (>= 2) of zero
// groups compressed; IPv4-mapped addresses come out as ::ffff:7f00:2.
function formatAddress({ family, value }: Address): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(16 * (7 - i))) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Canonical text of an IP literal in any accepted spelling (brackets optional), else null. */
export function parseHostLiteral(host: string): string | null {
  const address = parseAddress(host);
  return address === null ? null : formatAddress(address);
}

interface Range {
  family: 4 | 6;
  value: bigint;
  length: number;
}

function range(cidr: string): Range {
  const [text = '', length = ''] = cidr.split('/');
  const address = parseAddress(text);
  if (address === null) throw new Error(`bad built-in range ${cidr}`);
  return { ...address, length: Number(length) };
}

function inRange(address: Address, r: Range): boolean {
  if (address.family !== r.family) return false;
  const shift = BigInt(bitsOf(r.family) - r.length);
  return address.value >> shift === r.value >> shift;
}

// First match wins: specific entries (metadata, broadcast) precede the ranges holding them.
const IPV4_TABLE: ReadonlyArray<[Range, AddressClass]> = (
  [
    // AWS/GCP/Azure/DigitalOcean/Oracle IMDS, AWS ECS task and EKS pod identity, Oracle, Alibaba
    ['169.254.169.254/32', 'metadata'],
    ['169.254.170.2/32', 'metadata'],
    ['169.254.170.23/32', 'metadata'],
    ['192.0.0.192/32', 'metadata'],
    ['100.100.100.200/32', 'metadata'],
    ['0.0.0.0/8', 'unspecified'],
    ['127.0.0.0/8', 'loopback'],
    ['10.0.0.0/8', 'private'],
    ['172.16.0.0/12', 'private'],
    ['192.168.0.0/16', 'private'],
    ['100.64.0.0/10', 'cgnat'],
    ['169.254.0.0/16', 'linkLocal'],
    ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
    ['192.0.2.0/24', 'reserved'], // documentation (TEST-NET-1..3)
    ['198.51.100.0/24', 'reserved'],
    ['203.0.113.0/24', 'reserved'],
    ['198.18.0.0/15', 'reserved'], // benchmarking
    ['192.88.99.0/24', 'reserved'], // deprecated 6to4 relay anycast
    ['224.0.0.0/4', 'multicast'],
    ['255.255.255.255/32', 'broadcast'],
    ['240.0.0.0/4', 'reserved'],
  ] as const
).map(([cidr, cls]): [Range, AddressClass] => [range(cidr), cls]);

const IPV6_TABLE: ReadonlyArray<[Range, AddressClass]> = (
  [
    ['fd00:ec2::254/128', 'metadata'], // AWS IMDS over IPv6
    ['fd00:ec2::23/128', 'metadata'], // AWS EKS pod identity
    ['64:ff9b:1::/48', 'private'], // local-use NAT64
    ['100::/64', 'reserved'], // discard-only
    ['2001:db8::/32', 'reserved'], // documentation
    ['2001::/23', 'reserved'], // IETF protocol assignments, Teredo, ORCHID, benchmarking
    ['3fff::/20', 'reserved'], // documentation (RFC 9637)
    ['2000::/3', 'public'],
    ['fc00::/7', 'uniqueLocal'],
    ['fe80::/10', 'linkLocal'],
    ['fec0::/10', 'private'], // deprecated site-local
    ['ff00::/8', 'multicast'],
  ] as const
).map(([cidr, cls]): [Range, AddressClass] => [range(cidr), cls]);

function classify(address: Address): AddressClass {
  const { family, value } = address;
  if (family === 6) {
    if (value === 0n) return 'unspecified';
    if (value === 1n) return 'loopback';
    const top96 = value >> 32n;
    // IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96) and NAT64 (64:ff9b::/96) reach the
    // embedded IPv4 address; 6to4 (2002::/16) carries one in bits 16..48.
    if (top96 === 0xffffn || top96 === 0n || top96 === 0x64ff9b0000000000000000n) {
      return classify({ family: 4, value: value & MASK32 });
    }
    if (value >> 112n === 0x2002n) return classify({ family: 4, value: (value >> 80n) & MASK32 });
  }
  const table = family === 4 ? IPV4_TABLE : IPV6_TABLE;
  const hit = table.find(([r]) => inRange(address, r));
  if (hit) return hit[1];
  return family === 4 ? 'public' : 'reserved'; // IPv6 outside 2000::/3 is unallocated
}

/** Class of an IP address (any spelling parseHostLiteral accepts); throws for a non-IP. */
export function classifyAddress(ip: string): AddressClass {
  const address = parseAddress(ip);
  if (address === null) throw new Error(`not an IP address: ${ip}`);
  return classify(address);
}

const DESCRIPTION: Record<AddressClass, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private address',
  linkLocal: 'a link-local address',
  cgnat: 'a carrier-grade NAT (shared) address',
  unspecified: 'an unspecified (0.0.0.0 / ::) address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
  metadata: 'a cloud metadata address',
  uniqueLocal: 'a unique local (private IPv6) address',
  reserved: 'a reserved or special-purpose address',
};

type AllowEntry = { kind: 'cidr'; range: Range } | { kind: 'host'; name: string; wildcard: boolean };

// An IPv4-mapped IPv6 address is the IPv4 address on a dual-stack socket: match it as such.
function unmapped(address: Address): Address {
  return address.family === 6 && address.value >> 32n === 0xffffn
    ? { family: 4, value: address.value & MASK32 }
    : address;
}

const HOST_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

function parseAllowEntry(raw: string): AllowEntry {
  const text = raw.trim();
  const fail = (why: string): Error =>
    new Error(`invalid egress allow entry "${text}": ${why} (expected a CIDR like 10.0.0.0/8, an IP, or a host name like erp.internal or *.corp.example)`);
  if (text === '') throw fail('empty entry');
  if (text.includes('://')) throw fail('no scheme, port, path or spaces');
  const slash = text.indexOf('/');
  if (slash >= 0) {
    const address = parseAddress(text.slice(0, slash));
    const lengthText = text.slice(slash + 1);
    if (address === null) throw fail('the part before "/" is not an IP address');
    const bits = bitsOf(address.family);
    if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > bits) throw fail(`prefix length must be 0-${bits}`);
    const length = Number(lengthText);
    if (address.family === 6 && address.value >> 32n === 0xffffn && length >= 96) {
      return { kind: 'cidr', range: { ...unmapped(address), length: length - 96 } };
    }
    return { kind: 'cidr', range: { ...address, length } };
  }
  const address = parseAddress(text);
  if (address !== null) {
    const single = unmapped(address);
    return { kind: 'cidr', range: { ...single, length: bitsOf(single.family) } };
  }
  if (/[\s:/@?#]/.test(text)) throw fail('no scheme, port, path or spaces');
  const lower = text.toLowerCase().replace(/\.$/, '');
  const wildcard = lower.startsWith('*.');
  const name = wildcard ? lower.slice(2) : lower;
  const labels = name.split('.');
  if (!labels.every((l) => HOST_LABEL.test(l))) throw fail('not a valid host name');
  if (/^(?:\d+|0x[0-9a-f]*)$/.test(labels[labels.length - 1] ?? '')) throw fail('looks like an IP address but is not one');
  return { kind: 'host', name, wildcard };
}

/** Validates the comma-separated DESKHOOK_EGRESS_ALLOW value; returns its trimmed entries. */
export function parseAllowList(text: string): string[] {
  const entries = text.split(',').map((e) => e.trim()).filter((e) => e !== '');
  entries.forEach(parseAllowEntry);
  return entries;
}

// Classes a host-name entry may open. Metadata needs an entry for exactly that address, so
// neither a host entry whose name an attacker can point anywhere, nor a broad range such as
// 169.254.0.0/16 or 0.0.0.0/0, exposes instance credentials. Unspecified, multicast and
// broadcast addresses are never a legitimate target for a named service.
const HOST_ENTRY_COVERS: ReadonlySet<AddressClass> = new Set<AddressClass>([
  'loopback', 'private', 'linkLocal', 'cgnat', 'uniqueLocal', 'reserved',
]);

/**
 * Public addresses are always allowed. Any other address is refused unless an allow entry
 * covers it: a CIDR or IP entry containing the address, or a host entry naming the host
 * (exact, or `*.suffix` for any name below suffix but not suffix itself), within the limits
 * of HOST_ENTRY_COVERS and the exact-address rule for metadata.
 */
export class EgressPolicy {
  readonly allow: readonly string[];
  readonly #ranges: Range[] = [];
  readonly #hosts: Array<{ name: string; wildcard: boolean }> = [];

  constructor(allow: readonly string[] = []) {
    this.allow = Object.freeze([...allow]);
    for (const entry of allow) {
      const parsed = parseAllowEntry(entry);
      if (parsed.kind === 'cidr') this.#ranges.push(parsed.range);
      else this.#hosts.push(parsed);
    }
  }

  /** `host` is the URL host name the request named; `ip` the address about to be connected. */
  check(host: string, ip: string): EgressDecision {
    const address = parseAddress(ip);
    const shownHost = host.replace(/^\[(.*)\]$/, '$1');
    if (address === null) return { allowed: false, reason: `${ip} is not an IP address (host ${shownHost})` };
    const addressClass = classify(address);
    const shown = `${formatAddress(address)} is ${DESCRIPTION[addressClass]} (host ${shownHost})`;
    const target = unmapped(address);
    const range = this.#ranges.find((r) => inRange(target, r));
    if (addressClass === 'metadata') {
      if (range && range.length === bitsOf(range.family)) return { allowed: true, addressClass };
      return {
        allowed: false,
        addressClass,
        reason: `${shown}; only an entry for exactly this address in DESKHOOK_EGRESS_ALLOW allows it`,
      };
    }
    if (addressClass === 'public' || range) return { allowed: true, addressClass };
    if (this.#hostListed(host)) {
      if (HOST_ENTRY_COVERS.has(addressClass)) return { allowed: true, addressClass };
      return {
        allowed: false,
        addressClass,
        reason: `${shown}; a host entry does not cover it, allow the address itself with DESKHOOK_EGRESS_ALLOW`,
      };
    }
    return { allowed: false, addressClass, reason: `${shown}; allow it with DESKHOOK_EGRESS_ALLOW` };
  }

  #hostListed(host: string): boolean {
    if (parseAddress(host) !== null) return false;
    const name = host.toLowerCase().replace(/\.$/, '');
    return this.#hosts.some((h) => (h.wildcard ? name.endsWith(`.${h.name}`) : name === h.name));
  }
}
