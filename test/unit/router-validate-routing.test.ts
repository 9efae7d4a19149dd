import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateMirrors, validateRuleTarget, validateVariants, validateWeights } from '../../src/router/validate-routing.js';

const fail = (where: string, what: string): never => {
  throw new Error(`${where}: ${what}`);
};
const revisions = new Set([1, 2]);
const refused = (f: () => void, message: string) => assert.throws(f, (e: Error) => (assert.equal(e.message, message), true));

test('a rule target: exactly one of revision or split, and its revisions have backends', () => {
  const one = 'a rule needs exactly one of revision: N or split: [{revision, weight}…]';
  refused(() => validateRuleTarget({}, 'r', revisions, fail), `r: has neither revision nor split: ${one}`);
  refused(() => validateRuleTarget({ revision: 1, split: [] }, 'r', revisions, fail), `r: has both revision and split: ${one}`);
  refused(() => validateRuleTarget({ revision: 3 }, 'r', revisions, fail), 'r.revision: revision 3 has no backend in this listener');
  validateRuleTarget({ revision: 2 }, 'r', revisions, fail);
  validateRuleTarget(
    {
      split: [
        { revision: 1, weight: 50 },
        { revision: 2, weight: 50 },
      ],
    },
    'r',
    revisions,
    fail,
  );
  refused(() => validateRuleTarget({ split: [{ revision: 1, weight: 40 }] }, 'r', revisions, fail), 'r.split: weights sum to 40, must sum to 100');
});

test('weights: a non-empty list of known revisions, each once, 0..100, summing to 100', () => {
  refused(() => validateWeights(undefined, 'w', revisions, fail), 'w: must be a non-empty list of {revision, weight}');
  refused(() => validateWeights([], 'w', revisions, fail), 'w: must be a non-empty list of {revision, weight}');
  refused(() => validateWeights([7], 'w', revisions, fail), 'w[0]: must be an object {revision, weight}');
  refused(() => validateWeights([{ revision: 9, weight: 100 }], 'w', revisions, fail), 'w[0].revision: revision 9 has no backend in this listener');
  refused(
    () =>
      validateWeights(
        [
          { revision: 1, weight: 50 },
          { revision: 1, weight: 50 },
        ],
        'w',
        revisions,
        fail,
      ),
    'w[1].revision: revision 1 appears twice',
  );
  refused(() => validateWeights([{ revision: 1, weight: 101 }], 'w', revisions, fail), 'w[0].weight: must be a number in 0..100');
  refused(() => validateWeights([{ revision: 1, weight: '100' }], 'w', revisions, fail), 'w[0].weight: must be a number in 0..100');
  refused(
    () =>
      validateWeights(
        [
          { revision: 1, weight: 60 },
          { revision: 2, weight: 30 },
        ],
        'w',
        revisions,
        fail,
      ),
    'w: weights sum to 90, must sum to 100',
  );
  validateWeights(
    [
      { revision: 1, weight: 33.3 },
      { revision: 2, weight: 66.7 },
    ],
    'w',
    revisions,
    fail,
  );
});

test('mirrors: every field checked, the first problem reported with its path', () => {
  const ok = { name: 'm', revision: 2, percent: 10, queueLimit: 5, maxBodyBytes: 0 };
  validateMirrors(undefined, 'ms', revisions, fail);
  validateMirrors([ok, { ...ok, name: 'n', match: { pathPrefix: '/api' }, compare: { ignorePaths: ['$.t'] } }], 'ms', revisions, fail);
  refused(() => validateMirrors({}, 'ms', revisions, fail), 'ms: must be a list of mirror routes');
  refused(() => validateMirrors([1], 'ms', revisions, fail), 'ms[0]: must be an object {name, revision, percent, queueLimit, maxBodyBytes, match?, compare?}');
  refused(() => validateMirrors([{ ...ok, name: '' }], 'ms', revisions, fail), 'ms[0].name: must be a non-empty string');
  refused(() => validateMirrors([ok, ok], 'ms', revisions, fail), 'ms[1].name: m names another mirror of this listener');
  refused(() => validateMirrors([{ ...ok, revision: 5 }], 'ms', revisions, fail), 'ms[0].revision: revision 5 has no backend in this listener');
  refused(() => validateMirrors([{ ...ok, percent: -1 }], 'ms', revisions, fail), 'ms[0].percent: must be a number in 0..100');
  refused(() => validateMirrors([{ ...ok, queueLimit: 0 }], 'ms', revisions, fail), 'ms[0].queueLimit: must be a whole number ≥ 1');
  refused(() => validateMirrors([{ ...ok, maxBodyBytes: 1.5 }], 'ms', revisions, fail), 'ms[0].maxBodyBytes: must be a whole number of bytes ≥ 0');
  refused(
    () => validateMirrors([{ ...ok, match: [] }], 'ms', revisions, fail),
    'ms[0].match: must be an object (header, cookie, query, pathPrefix, sourceCidr, methods)',
  );
  refused(
    () => validateMirrors([{ ...ok, match: { methods: ['get'] } }], 'ms', revisions, fail),
    'ms[0].match.methods: must be a non-empty list of upper-case methods, e.g. [GET, HEAD]',
  );
  refused(
    () => validateMirrors([{ ...ok, compare: { ignorePaths: 'x' } }], 'ms', revisions, fail),
    'ms[0].compare: must be an object {ignorePaths: [$.path…]} (the list may be empty)',
  );
  assert.throws(() => validateMirrors([{ ...ok, compare: { ignorePaths: ['nope'] } }], 'ms', revisions, fail), /^Error: ms\[0\]\.compare\.ignorePaths\[0\]: /);
});

test('variants: variantHeader a header name, each variant printable ASCII', () => {
  const backends = [
    { revision: 1, variant: 'a' },
    { revision: 2, variant: 'b' },
  ];
  validateVariants({ variantHeader: 'x-variant', backends }, 'l', fail);
  validateVariants({ backends: [{ revision: 1 }] }, 'l', fail);
  refused(() => validateVariants({ variantHeader: 'x variant', backends }, 'l', fail), 'l.variantHeader: "x variant" is not a valid header name');
  refused(() => validateVariants({ variantHeader: 7, backends }, 'l', fail), 'l.variantHeader: 7 is not a valid header name');
  refused(
    () => validateVariants({ backends: [{ revision: 1, variant: '' }] }, 'l', fail),
    'l.backends[0].variant: must be a non-empty printable ASCII string (it is sent as a header value)',
  );
  refused(
    () => validateVariants({ backends: [{ revision: 1, variant: 'a\r\nx: y' }] }, 'l', fail),
    'l.backends[0].variant: must be a non-empty printable ASCII string (it is sent as a header value)',
  );
});
