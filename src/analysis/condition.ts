/**
 * successCondition / failureCondition: a small, safe expression language over `result`,
 * close to what Argo Rollouts users write (`result <= 0.01`, `result[0] >= 0.95`,
 * `result.p95 < 0.5 && result.errors == 0`, `len(result) > 0`, `isNaN(result)`).
 *
 * The text is tokenized and parsed by hand into an AST, then evaluated by a tree walker:
 * no eval, no Function, and member access only ever reads a JSON-like value's own
 * properties, so `result.constructor` or `result['__proto__']` is null, never a JS object.
 *
 * Grammar, loosest binding first:
 *   or:        and (('||' | 'or') and)*
 *   and:       equality (('&&' | 'and') equality)*
 *   equality:  relation (('==' | '!=') relation)*
 *   relation:  additive (('<' | '<=' | '>' | '>=') additive)*
 *   additive:  multiplicative (('+' | '-') multiplicative)*
 *   multiplicative: unary (('*' | '/' | '%') unary)*
 *   unary:     ('!' | 'not' | '-' | '+') unary | postfix
 *   postfix:   primary ('.' name | '[' or ']')*
 *   primary:   number | string | true | false | null (or nil) | result | function '(' args ')' | '(' or ')'
 * `not` binds as tightly as `!` (as in expr-lang, which Argo uses): write `not (result > 5)`.
 * The only name is `result`; functions: len, abs, min, max, isNaN, isInf, asInt, asFloat,
 * default. Anything else is a compile error naming it.
 *
 * Evaluation semantics (chosen so that missing data never looks like a success):
 * - Missing values are null: a missing key, an index out of range, indexing null, or
 *   reading a property of a number all give null.
 * - `< <= > >=` compare two numbers, or two strings; any other pairing (a string with a
 *   number, anything with null) is false. NaN compares false, as in IEEE.
 * - `==` / `!=` compare numbers, strings, booleans and null by value (NaN != NaN);
 *   arrays and objects are equal only when deeply equal. No type coercion: '1' != 1.
 * - Arithmetic needs numbers (`+` also joins two strings); null in, null out. Any other
 *   type is a broken condition and throws. Division by zero gives ±Infinity or NaN.
 * - `!`, `&&`, `||` take booleans; null counts as false; other types throw.
 *   `&&` and `||` short-circuit.
 * - The whole condition must give true or false; null gives false; anything else throws.
 * - Functions: len (string/array/object size, null → 0), abs, min/max (of arguments or
 *   of one array), isNaN/isInf (false for non-numbers), asInt/asFloat (numbers or numeric
 *   strings; null → null), default(x, d) (d when x is null).
 * Evaluation errors are ConditionErrors naming the column of the offending expression.
 */
import { UserError } from '../util/errors.js';

export class ConditionError extends UserError {
  constructor(
    message: string,
    /** 1-based column in the condition text, when the error points at one. */
    readonly column?: number,
  ) {
    super(message, 'invalid-condition', 400);
    this.name = 'ConditionError';
  }
}

export type Condition = (result: unknown) => boolean;

/**
 * Compiles a condition once; the returned function evaluates it against a result.
 * `label` names the field in error messages (e.g. "successCondition").
 */
export function compileCondition(text: string, label = 'condition'): Condition {
  const ast = new Parser(text, label).parseCondition();
  return (result: unknown) => {
    const value = evaluate(ast, result, label);
    if (typeof value === 'boolean') return value;
    if (value === null) return false;
    throw new ConditionError(`${label}: '${text.trim()}' gave ${describe(value)}, not true or false — compare it, e.g. result > 0`);
  };
}

/** For lint: the error a condition would raise when compiled, or undefined when it is valid. */
export function checkCondition(text: string, label = 'condition'): string | undefined {
  try {
    compileCondition(text, label);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

// ---------- tokens ----------

type TokenKind = 'number' | 'string' | 'name' | 'op' | 'end';

interface Token {
  kind: TokenKind;
  text: string;
  /** Parsed value for numbers and strings. */
  value?: number | string;
  /** 1-based column. */
  column: number;
}

const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '!', '+', '-', '*', '/', '%', '(', ')', '[', ']', '.', ','];
const WORD_OPERATORS = new Set(['and', 'or', 'not']);
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };

function tokenize(text: string, label: string): Token[] {
  const tokens: Token[] = [];
  const fail = (message: string, at: number, hint: string): never => {
    throw new ConditionError(`${label}: ${message} at column ${at + 1} — ${hint}`, at + 1);
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i))!;
      i += m[0].length;
      if (/[A-Za-z_0-9.]/.test(text[i] ?? '')) fail(`malformed number '${text.slice(start, i + 1)}'`, start, 'write numbers like 0.5, 12 or 1e-3');
      tokens.push({ kind: 'number', text: m[0], value: Number(m[0]), column: start + 1 });
      continue;
    }
    if (c === "'" || c === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) fail('unterminated string', start, `close it with ${c}`);
        const d = text[i]!;
        if (d === c) {
          i++;
          break;
        }
        if (d === '\\') {
          const e = text[i + 1];
          if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
            value += ESCAPES[e];
            i += 2;
          } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            value += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
            i += 6;
          } else {
            fail(`unknown escape '\\${e ?? ''}'`, i, 'use \\n, \\t, \\\\, \\\', \\" or \\uXXXX');
          }
          continue;
        }
        value += d;
        i++;
      }
      tokens.push({ kind: 'string', text: text.slice(start, i), value, column: start + 1 });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z_$0-9]*/.exec(text.slice(i))!;
      i += m[0].length;
      const kind = WORD_OPERATORS.has(m[0]) ? 'op' : 'name';
      tokens.push({ kind, text: m[0], column: start + 1 });
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op) {
      i += op.length;
      tokens.push({ kind: 'op', text: op, column: start + 1 });
      continue;
    }
    const hints: Record<string, string> = { '=': "did you mean '=='?", '&': "did you mean '&&'?", '|': "did you mean '||'?" };
    fail(`unexpected '${c}'`, start, hints[c] ?? 'conditions use result, numbers, strings, comparisons, && || ! and a few functions');
  }
  tokens.push({ kind: 'end', text: 'end of condition', column: text.length + 1 });
  return tokens;
}

// ---------- AST ----------

type Node =
  | { type: 'literal'; value: number | string | boolean | null; column: number }
  | { type: 'result'; column: number }
  | { type: 'member'; object: Node; key: string; column: number }
  | { type: 'index'; object: Node; index: Node; column: number }
  | { type: 'unary'; op: '!' | '-' | '+'; operand: Node; column: number }
  | { type: 'binary'; op: BinaryOp; left: Node; right: Node; column: number }
  | { type: 'logical'; op: '&&' | '||'; left: Node; right: Node; column: number }
  | { type: 'call'; fn: FunctionName; args: Node[]; column: number };

type BinaryOp = '*' | '/' | '%' | '+' | '-' | '<' | '<=' | '>' | '>=' | '==' | '!=';

type FunctionName = keyof typeof FUNCTIONS;

/** name → [min args, max args]. */
const FUNCTIONS = {
  len: [1, 1],
  abs: [1, 1],
  min: [1, Infinity],
  max: [1, Infinity],
  isNaN: [1, 1],
  isInf: [1, 1],
  asInt: [1, 1],
  asFloat: [1, 1],
  default: [2, 2],
} as const;

const FUNCTION_LIST = Object.keys(FUNCTIONS).join(', ');
const MAX_DEPTH = 64;
/** Keeps the left-leaning trees of long operator chains shallow enough for a recursive walk. */
const MAX_LENGTH = 2000;

class Parser {
  private readonly tokens: Token[];
  private pos = 0;
  private depth = 0;

  constructor(
    text: string,
    private readonly label: string,
  ) {
    if (text.length > MAX_LENGTH) {
      throw new ConditionError(`${label}: condition is ${text.length} characters long — keep it under ${MAX_LENGTH}`);
    }
    this.tokens = tokenize(text, label);
  }

  parseCondition(): Node {
    if (this.peek().kind === 'end') this.fail(this.peek(), 'empty condition', 'write an expression over result, e.g. result < 0.01');
    const node = this.parseOr();
    const t = this.peek();
    if (t.kind !== 'end') this.fail(t, `unexpected ${quote(t)}`, 'expected an operator such as && or || or the end of the condition');
    return node;
  }

  private parseOr(): Node {
    let left = this.parseAnd();
    while (this.match('||', 'or')) {
      const op = this.previous();
      left = { type: 'logical', op: '||', left, right: this.parseAnd(), column: op.column };
    }
    return left;
  }

  private parseAnd(): Node {
    let left = this.parseBinary(0);
    while (this.match('&&', 'and')) {
      const op = this.previous();
      left = { type: 'logical', op: '&&', left, right: this.parseBinary(0), column: op.column };
    }
    return left;
  }

  private static readonly LEVELS: BinaryOp[][] = [
    ['==', '!='],
    ['<', '<=', '>', '>='],
    ['+', '-'],
    ['*', '/', '%'],
  ];

  private parseBinary(level: number): Node {
    if (level === Parser.LEVELS.length) return this.parseUnary();
    let left = this.parseBinary(level + 1);
    while (this.match(...Parser.LEVELS[level]!)) {
      const op = this.previous();
      left = { type: 'binary', op: op.text as BinaryOp, left, right: this.parseBinary(level + 1), column: op.column };
    }
    return left;
  }

  private parseUnary(): Node {
    if (this.match('!', 'not', '-', '+')) {
      const op = this.previous();
      const operand = this.nested(() => this.parseUnary());
      const kind = op.text === 'not' ? '!' : (op.text as '!' | '-' | '+');
      return { type: 'unary', op: kind, operand, column: op.column };
    }
    return this.parsePostfix();
  }

  private parsePostfix(): Node {
    let node = this.parsePrimary();
    for (;;) {
      if (this.match('.')) {
        const dot = this.previous();
        const name = this.advance();
        if (name.kind !== 'name' && !(name.kind === 'op' && WORD_OPERATORS.has(name.text))) {
          this.fail(name, `expected a field name after '.' but found ${quote(name)}`, "write result.name, or result['some key']");
        }
        node = { type: 'member', object: node, key: name.text, column: dot.column };
      } else if (this.match('[')) {
        const open = this.previous();
        const index = this.nested(() => this.parseOr());
        this.expect(']', "close the index with ']'");
        node = { type: 'index', object: node, index, column: open.column };
      } else if (this.peek().text === '(' && this.peek().kind === 'op') {
        this.fail(this.peek(), "unexpected '('", `only the functions ${FUNCTION_LIST} can be called`);
      } else {
        return node;
      }
    }
  }

  private parsePrimary(): Node {
    const t = this.advance();
    switch (t.kind) {
      case 'number':
      case 'string':
        return { type: 'literal', value: t.value!, column: t.column };
      case 'name': {
        if (t.text === 'true' || t.text === 'false') return { type: 'literal', value: t.text === 'true', column: t.column };
        if (t.text === 'null' || t.text === 'nil') return { type: 'literal', value: null, column: t.column };
        if (t.text === 'result') return { type: 'result', column: t.column };
        if (Object.hasOwn(FUNCTIONS, t.text)) return this.parseCall(t);
        return this.fail(t, `unknown name '${t.text}'`, `only result and the functions ${FUNCTION_LIST} are available`);
      }
      case 'op':
        if (t.text === '(') {
          const inner = this.nested(() => this.parseOr());
          this.expect(')', "close the parenthesis with ')'");
          return inner;
        }
        return this.fail(t, `unexpected ${quote(t)}`, 'expected a value: result, a number, a string, true, false or null');
      case 'end':
        return this.fail(t, 'unexpected end of condition', 'expected a value: result, a number, a string, true, false or null');
    }
  }

  private parseCall(name: Token): Node {
    const fn = name.text as FunctionName;
    if (!this.match('(')) this.fail(this.peek(), `${fn} is a function`, `call it: ${fn}(result)`);
    const args: Node[] = [];
    if (!this.match(')')) {
      do args.push(this.nested(() => this.parseOr()));
      while (this.match(','));
      this.expect(')', `close the call to ${fn} with ')'`);
    }
    const [min, max] = FUNCTIONS[fn];
    if (args.length < min || args.length > max) {
      const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
      this.fail(name, `${fn} takes ${want} argument${want === '1' ? '' : 's'}, got ${args.length}`, `e.g. ${fn}(${fn === 'default' ? 'result, 0' : 'result'})`);
    }
    return { type: 'call', fn, args, column: name.column };
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_DEPTH) this.fail(this.peek(), 'condition nests too deeply', `keep nesting under ${MAX_DEPTH} levels`);
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private previous(): Token {
    return this.tokens[this.pos - 1]!;
  }

  private advance(): Token {
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'end') this.pos++;
    return t;
  }

  private match(...ops: string[]): boolean {
    const t = this.peek();
    if (t.kind === 'op' && ops.includes(t.text)) {
      this.pos++;
      return true;
    }
    return false;
  }

  private expect(op: string, hint: string): void {
    if (!this.match(op)) {
      const t = this.peek();
      this.fail(t, `expected '${op}' but found ${quote(t)}`, hint);
    }
  }

  private fail(t: Token, message: string, hint: string): never {
    throw new ConditionError(`${this.label}: ${message} at column ${t.column} — ${hint}`, t.column);
  }
}

function quote(t: Token): string {
  return t.kind === 'end' ? 'end of condition' : `'${t.text}'`;
}

// ---------- evaluation ----------

function evaluate(node: Node, result: unknown, label: string): unknown {
  const fail = (message: string): never => {
    throw new ConditionError(`${label}: ${message} at column ${node.column}`, node.column);
  };
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'result':
      return result === undefined ? null : result;
    case 'member':
      return readKey(evaluate(node.object, result, label), node.key);
    case 'index': {
      const object = evaluate(node.object, result, label);
      const index = evaluate(node.index, result, label);
      if (typeof index === 'number') return readIndex(object, index);
      if (typeof index === 'string') return readKey(object, index);
      if (index === null) return null;
      return fail(`cannot index with ${describe(index)}`);
    }
    case 'unary': {
      const v = evaluate(node.operand, result, label);
      if (node.op === '!') return !truth(v, '!', fail);
      if (v === null) return null;
      if (typeof v !== 'number') return fail(`cannot apply '${node.op}' to ${describe(v)}`);
      return node.op === '-' ? -v : v;
    }
    case 'logical': {
      const left = truth(evaluate(node.left, result, label), node.op, fail);
      if (node.op === '&&' ? !left : left) return left;
      return truth(evaluate(node.right, result, label), node.op, fail);
    }
    case 'binary':
      return binary(node.op, evaluate(node.left, result, label), evaluate(node.right, result, label), fail);
    case 'call':
      return call(
        node.fn,
        node.args.map((a) => evaluate(a, result, label)),
        fail,
      );
  }
}

function truth(v: unknown, op: string, fail: (m: string) => never): boolean {
  if (typeof v === 'boolean') return v;
  if (v === null) return false;
  return fail(`'${op}' needs true or false, got ${describe(v)} — compare it, e.g. result > 0`);
}

function binary(op: BinaryOp, a: unknown, b: unknown, fail: (m: string) => never): unknown {
  switch (op) {
    case '==':
      return equal(a, b);
    case '!=':
      return !equal(a, b);
    case '<':
    case '<=':
    case '>':
    case '>=':
      if (!((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string'))) return false;
      return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
    default:
      if (a === null || b === null) return null;
      if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
      if (typeof a !== 'number' || typeof b !== 'number') return fail(`cannot apply '${op}' to ${describe(a)} and ${describe(b)}`);
      switch (op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case '/':
          return a / b;
        case '%':
          return a % b;
      }
  }
}

function call(fn: FunctionName, args: unknown[], fail: (m: string) => never): unknown {
  const x = args[0];
  switch (fn) {
    case 'len':
      if (x === null) return 0;
      if (typeof x === 'string' || Array.isArray(x)) return x.length;
      if (isRecord(x)) return Object.keys(x).length;
      return fail(`len needs a string, list or object, got ${describe(x)}`);
    case 'abs':
      if (x === null) return null;
      if (typeof x !== 'number') return fail(`abs needs a number, got ${describe(x)}`);
      return Math.abs(x);
    case 'min':
    case 'max': {
      const values = args.length === 1 && Array.isArray(x) ? (x as unknown[]) : args;
      if (values.length === 0 || values.some((v) => v === null || v === undefined)) return null;
      if (!values.every((v) => typeof v === 'number')) return fail(`${fn} needs numbers, got ${values.map(describe).join(', ')}`);
      return fn === 'min' ? Math.min(...(values as number[])) : Math.max(...(values as number[]));
    }
    case 'isNaN':
      return typeof x === 'number' && Number.isNaN(x);
    case 'isInf':
      return x === Infinity || x === -Infinity;
    case 'asInt':
    case 'asFloat': {
      if (x === null) return null;
      const n = typeof x === 'number' ? x : typeof x === 'string' && x.trim() !== '' ? Number(x.trim()) : NaN;
      if (typeof x !== 'number' && Number.isNaN(n)) return fail(`${fn} needs a number or a numeric string, got ${describe(x)}`);
      return fn === 'asInt' ? Math.trunc(n) : n;
    }
    case 'default':
      return x === null || x === undefined ? args[1] : x;
  }
}

function readKey(object: unknown, key: string): unknown {
  if (isRecord(object) && Object.hasOwn(object, key)) return orNull(object[key]);
  return null;
}

function readIndex(object: unknown, index: number): unknown {
  if (Array.isArray(object)) {
    if (!Number.isInteger(index)) return null;
    const i = index < 0 ? object.length + index : index;
    return i >= 0 && i < object.length ? orNull(object[i]) : null;
  }
  return readKey(object, String(index));
}

/** A plain JSON-like object: never a function, class instance, array or prototype. */
function isRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function orNull(v: unknown): unknown {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol' ? null : v;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => equal(v, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && equal(a[k], b[k]));
  }
  return false;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `string '${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v === 'object' ? 'an object' : typeof v;
}
