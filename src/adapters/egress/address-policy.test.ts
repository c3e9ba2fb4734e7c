import { describe, expect, it } from 'vitest';
import { EgressPolicy, classifyAddress, parseAllowList, parseHostLiteral } from './address-policy.ts';
import type { AddressClass } from './address-policy.ts';

// Pure functions only: nothing here opens a socket.

describe('parseHostLiteral', () => {
  it.each([
    ['127.0.0.2', '127.0.0.2'],
    ['2130706434', '127.0.0.2'],
    ['0x7f000002', '127.0.0.2'],
    ['0X7F000002', '127.0.0.2'],
    ['0x7f.0.0.2', '127.0.0.2'],
    ['0177.0.0.2', '127.0.0.2'],
    ['017700000002', '127.0.0.2'],
    ['127.2', '127.0.0.2'],
    ['127.0.2', '127.0.0.2'],
    ['127.0.0.2.', '127.0.0.2'],
    ['0', '0.0.0.0'],
    ['0x', '0.0.0.0'],
    ['169.254.43518', '169.254.169.254'],
    ['[::1]', '::1'],
    ['::1', '::1'],
    ['[::ffff:127.0.0.2]', '::ffff:7f00:2'],
    ['::ffff:7f00:2', '::ffff:7f00:2'],
    ['0:0:0:0:0:ffff:7f00:2', '::ffff:7f00:2'],
    ['[::127.0.0.2]', '::7f00:2'],
    ['[64:ff9b::127.0.0.1]', '64:ff9b::7f00:1'],
    ['FE80::AB%eth0', 'fe80::ab'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ])('%s -> %s', (host, canonical) => {
    expect(parseHostLiteral(host)).toBe(canonical);
  });

  it.each(['localhost', 'erp.internal', '256.0.0.1', '1.2.3.4.5', '08.0.0.1', '0x7g.0.0.1', '4294967296', '', '[erp]', '[127.0.0.1]', '1::2::3', '127.0.0.1:80'])(
    '%s is not an IP literal',
    (host) => {
      expect(parseHostLiteral(host)).toBeNull();
    },
  );
});

describe('classifyAddress', () => {
  const table: Array<[string, AddressClass]> = [
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['febf::1', 'linkLocal'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['192.0.0.192', 'metadata'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.51.100.1', 'reserved'],
    ['203.0.113.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['100::1', 'reserved'],
    ['fec0::1', 'private'],
    ['4000::1', 'reserved'],
    // IPv4 embedded in IPv6 is classified as the IPv4 address it reaches.
    ['::ffff:127.0.0.2', 'loopback'],
    ['::ffff:7f00:2', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:8.8.8.8', 'public'],
    ['::127.0.0.2', 'loopback'],
    ['::10.0.0.1', 'private'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::169.254.169.254', 'metadata'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['64:ff9b:1::1', 'private'],
    ['2002:7f00:1::1', 'loopback'],
    ['2002:a9fe:a9fe::1', 'metadata'],
    ['2002:0808:0808::1', 'public'],
    // Odd spellings classify like the canonical address.
    ['2130706434', 'loopback'],
    ['0xa9fea9fe', 'metadata'],
    ['[::ffff:192.168.0.1]', 'private'],
  ];
  it.each(table)('%s is %s', (ip, expected) => {
    expect(classifyAddress(ip)).toBe(expected);
  });

  it('throws for a host name', () => {
    expect(() => classifyAddress('localhost')).toThrow('not an IP address: localhost');
  });
});

describe('EgressPolicy.check', () => {
  it('allows public addresses with an empty allow list', () => {
    const policy = new EgressPolicy([]);
    expect(policy.check('example.com', '93.184.215.14')).toEqual({ allowed: true, addressClass: 'public' });
    expect(policy.check('example.com', '2606:4700::1111').allowed).toBe(true);
  });

  it.each(['127.0.0.1', '::1', '10.0.0.1', '172.16.0.1', '192.168.0.1', '169.254.1.1', 'fe80::1', '100.64.0.1', '0.0.0.0', '::', '224.0.0.1', 'ff02::1', 'fc00::1', '240.0.0.1', '198.18.0.1', '192.0.2.1', '::ffff:127.0.0.1', '169.254.169.254'])(
    'refuses %s with an empty allow list',
    (ip) => {
      expect(new EgressPolicy([]).check('h', ip).allowed).toBe(false);
    },
  );

  it('explains a refusal in words a user can act on', () => {
    expect(new EgressPolicy([]).check('127.0.0.2', '127.0.0.2')).toEqual({
      allowed: false,
      addressClass: 'loopback',
      reason: '127.0.0.2 is a loopback address (host 127.0.0.2); allow it with DESKHOOK_EGRESS_ALLOW',
    });
    const v6 = new EgressPolicy([]).check('[::ffff:127.0.0.2]', '::ffff:127.0.0.2');
    expect(v6.allowed === false && v6.reason).toBe(
      '::ffff:7f00:2 is a loopback address (host ::ffff:127.0.0.2); allow it with DESKHOOK_EGRESS_ALLOW',
    );
  });

  it('allows non-public addresses covered by a CIDR or IP entry', () => {
    const policy = new EgressPolicy(['10.0.0.0/8', '127.0.0.1', 'fd00::/8', '::1/128', '192.168.1.0/24']);
    expect(policy.check('h', '10.200.0.1').allowed).toBe(true);
    expect(policy.check('h', '127.0.0.1').allowed).toBe(true);
    expect(policy.check('h', '127.0.0.2').allowed).toBe(false);
    expect(policy.check('h', 'fd12::1').allowed).toBe(true);
    expect(policy.check('h', 'fc00::1').allowed).toBe(false);
    expect(policy.check('h', '::1').allowed).toBe(true);
    expect(policy.check('h', '192.168.1.77').allowed).toBe(true);
    expect(policy.check('h', '192.168.2.1').allowed).toBe(false);
    expect(policy.check('h', '172.16.0.1').allowed).toBe(false);
  });

  it('matches IPv4-mapped IPv6 addresses against IPv4 entries and vice versa', () => {
    expect(new EgressPolicy(['127.0.0.1/32']).check('h', '::ffff:127.0.0.1').allowed).toBe(true);
    expect(new EgressPolicy(['127.0.0.1/32']).check('h', '::ffff:127.0.0.2').allowed).toBe(false);
    expect(new EgressPolicy(['::ffff:10.0.0.0/104']).check('h', '10.9.9.9').allowed).toBe(true);
  });

  it('lets host entries open private addresses of exactly that host or a wildcard subdomain', () => {
    const policy = new EgressPolicy(['erp.internal', '*.corp.example', 'localhost']);
    expect(policy.check('erp.internal', '10.0.0.5').allowed).toBe(true);
    expect(policy.check('ERP.Internal.', '10.0.0.5').allowed).toBe(true);
    expect(policy.check('x.erp.internal', '10.0.0.5').allowed).toBe(false);
    expect(policy.check('api.corp.example', '192.168.0.9').allowed).toBe(true);
    expect(policy.check('a.b.corp.example', 'fd00::9').allowed).toBe(true);
    expect(policy.check('corp.example', '192.168.0.9').allowed).toBe(false);
    expect(policy.check('evilcorp.example', '192.168.0.9').allowed).toBe(false);
    expect(policy.check('localhost', '127.0.0.1').allowed).toBe(true);
    expect(policy.check('localhost', '::1').allowed).toBe(true);
    // An IP-literal host is never a host name: the address itself must be listed.
    expect(policy.check('127.0.0.1', '127.0.0.1').allowed).toBe(false);
  });

  it('never lets a host entry open metadata, unspecified, multicast or broadcast addresses', () => {
    const policy = new EgressPolicy(['erp.internal']);
    for (const ip of ['169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '::ffff:169.254.169.254', '0.0.0.0', '224.0.0.1', '255.255.255.255']) {
      const decision = policy.check('erp.internal', ip);
      expect(decision.allowed, ip).toBe(false);
    }
    const metadata = policy.check('erp.internal', '169.254.169.254');
    expect(metadata.allowed === false && metadata.reason).toBe(
      '169.254.169.254 is a cloud metadata address (host erp.internal); only an entry for exactly this address in DESKHOOK_EGRESS_ALLOW allows it',
    );
  });

  it('opens a metadata address only for an entry naming exactly that address', () => {
    expect(new EgressPolicy(['169.254.0.0/16']).check('h', '169.254.169.254').allowed).toBe(false);
    expect(new EgressPolicy(['169.254.0.0/16']).check('h', '169.254.1.1').allowed).toBe(true);
    expect(new EgressPolicy(['0.0.0.0/0']).check('h', '169.254.169.254').allowed).toBe(false);
    expect(new EgressPolicy(['169.254.169.254']).check('h', '169.254.169.254').allowed).toBe(true);
    expect(new EgressPolicy(['169.254.169.254/32']).check('h', '::ffff:169.254.169.254').allowed).toBe(true);
    expect(new EgressPolicy(['fd00:ec2::254']).check('h', 'fd00:ec2::254').allowed).toBe(true);
  });

  it('refuses something that is not an IP address', () => {
    expect(new EgressPolicy(['0.0.0.0/0']).check('h', 'not-an-ip')).toEqual({
      allowed: false,
      reason: 'not-an-ip is not an IP address (host h)',
    });
  });
});

describe('parseAllowList', () => {
  it('returns trimmed entries and ignores empty ones', () => {
    expect(parseAllowList(' 10.0.0.0/8 , erp.internal,,*.corp.example, ::1/128 ,127.0.0.1,')).toEqual([
      '10.0.0.0/8',
      'erp.internal',
      '*.corp.example',
      '::1/128',
      '127.0.0.1',
    ]);
    expect(parseAllowList('')).toEqual([]);
  });

  it.each([
    ['http://erp.internal', 'no scheme'],
    ['erp.internal:8080', 'no scheme, port'],
    ['erp.internal/api', 'the part before "/" is not an IP address'],
    ['10.0.0.0/33', 'prefix length must be 0-32'],
    ['::1/129', 'prefix length must be 0-128'],
    ['10.0.0.0/x', 'prefix length'],
    ['10.0.0.0/', 'prefix length'],
    ['300.1.1.1', 'looks like an IP address'],
    ['erp internal', 'no scheme'],
    ['*', 'not a valid host name'],
    ['-erp.internal', 'not a valid host name'],
    ['erp..internal', 'not a valid host name'],
  ])('rejects %s, naming it', (entry, why) => {
    expect(() => parseAllowList(`10.0.0.0/8, ${entry}`)).toThrow(`invalid egress allow entry "${entry}": ${why}`);
  });

  it('is what EgressPolicy enforces too', () => {
    expect(() => new EgressPolicy(['10.0.0.0/8', 'http://x'])).toThrow('"http://x"');
  });
});
