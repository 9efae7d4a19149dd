import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatHostPort, HostPortError, parseHostPort, tryParseHostPort } from '../../src/util/host-port.js';

test('names, IPv4 and bracketed IPv6 with a port; the host comes back without brackets', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:7070'), { host: '127.0.0.1', port: 7070 });
  assert.deepEqual(parseHostPort('localhost:1'), { host: 'localhost', port: 1 });
  assert.deepEqual(parseHostPort('my-host.example:65535'), { host: 'my-host.example', port: 65535 });
  assert.deepEqual(parseHostPort('[::1]:9901'), { host: '::1', port: 9901 });
  assert.deepEqual(parseHostPort('[::]:80'), { host: '::', port: 80 });
  assert.deepEqual(parseHostPort('[::ffff:127.0.0.1]:80'), { host: '::ffff:127.0.0.1', port: 80 });
});

test('a bare port needs defaultHost, a bare host needs defaultPort, port 0 needs allowPortZero', () => {
  assert.deepEqual(parseHostPort('7070', { defaultHost: '127.0.0.1' }), { host: '127.0.0.1', port: 7070 });
  assert.deepEqual(parseHostPort('localhost', { defaultPort: 80 }), { host: 'localhost', port: 80 });
  assert.deepEqual(parseHostPort('[::1]', { defaultPort: 80 }), { host: '::1', port: 80 });
  assert.deepEqual(parseHostPort('127.0.0.1:0', { allowPortZero: true }), { host: '127.0.0.1', port: 0 });
  assert.throws(() => parseHostPort('7070'), /^HostPortError: address "7070" is not host:port: the port is missing; write HOST:PORT, e.g\. 127\.0\.0\.1:7070$/);
  assert.throws(() => parseHostPort('127.0.0.1:0'), /the port must be a number from 1 to 65535, got "0"/);
});

test('each way to get it wrong says what is wrong, on one line, starting with what the text is', () => {
  const refused: [string, RegExp][] = [
    ['', /the host is missing/],
    [':80', /the host is missing/],
    ['::1:80', /an IPv6 address must be in brackets, e.g\. \[::1\]:7070/],
    ['[::1:80', /needs its "\]"/],
    ['[::1]x:80', /unexpected "x:80" after "\]"/],
    ['[evil.example]:80', /in brackets is not an IPv6 address/],
    ['host:65536', /from 1 to 65535, got "65536"/],
    ['host:080080', /from 1 to 65535/],
    ['host:-1', /from 1 to 65535/],
    ['host: 80', /from 1 to 65535/],
    ['ev il:80', /"ev il" is not a host name or IPv4 address/],
    ['a/b:80', /is not a host name/],
    ['-a:80', /is not a host name/],
  ];
  for (const [text, why] of refused) {
    assert.throws(
      () => parseHostPort(text, { what: '--admin' }),
      (e: unknown) =>
        e instanceof HostPortError &&
        e.message.startsWith(`--admin ${JSON.stringify(text)} is not host:port: `) &&
        why.test(e.message) &&
        !e.message.includes('\n'),
      text,
    );
    assert.equal(tryParseHostPort(text), undefined, text);
  }
  // A long text is quoted shortened, so that the line stays readable.
  assert.ok(tryParseHostPort('x'.repeat(5000)) === undefined);
  assert.throws(
    () => parseHostPort(`${'x'.repeat(5000)}:0`),
    (e: Error) => e.message.length < 300,
  );
});

const hostArb = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6(), fc.constantFrom('localhost', '::', '::1', '0.0.0.0'));
const portArb = fc.integer({ min: 1, max: 65535 });

test('property: parse(format(x)) is x for every name, IPv4 and IPv6 host and port 1..65535', () => {
  fc.assert(
    fc.property(hostArb, portArb, (host, port) => {
      assert.deepEqual(parseHostPort(formatHostPort({ host, port })), { host, port });
    }),
    { numRuns: 2000 },
  );
});

test('property: any text either parses to something that formats back to the same host:port, or throws HostPortError and nothing else', () => {
  const textArb = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: fc.constantFrom(...'[]:.0123456789abcdef%-/ '.split('')), maxLength: 30 }),
    fc.tuple(hostArb, fc.string({ maxLength: 8 })).map(([h, p]) => `${h}:${p}`),
    fc.tuple(hostArb, portArb).map(([h, p]) => `[${h}]:${p}`),
  );
  const optionsArb = fc.record({ defaultHost: fc.constant('127.0.0.1'), defaultPort: fc.constant(80), allowPortZero: fc.boolean() }, { requiredKeys: [] });
  fc.assert(
    fc.property(textArb, optionsArb, (text, options) => {
      let parsed;
      try {
        parsed = parseHostPort(text, options);
      } catch (e) {
        assert.ok(e instanceof HostPortError, `${JSON.stringify(text)} threw ${String(e)}`);
        assert.ok(!e.message.includes('\n'));
        return;
      }
      assert.ok(parsed.port >= (options.allowPortZero ? 0 : 1) && parsed.port <= 65535);
      assert.deepEqual(parseHostPort(formatHostPort(parsed), options), parsed);
    }),
    { numRuns: 5000 },
  );
});
