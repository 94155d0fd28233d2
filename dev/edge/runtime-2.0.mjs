// What the CloudFront Functions JavaScript runtime 2.0 (cloudfront-js-2.0) offers, as an explicit
// allow-list. Source, one entry per item the page lists (nothing added from Node or newer ECMAScript):
//   "JavaScript runtime 2.0 features for CloudFront Functions"
//   https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-javascript-runtime-20.html
// The emulator (cloudfront-function.mjs) rejects a source that uses anything else (statements, operators,
// globals, static members of the built-ins, methods called on values), and removes every unlisted method
// from the sandbox's built-ins, so a call the static check cannot see (a computed name) fails at run time.
// Where the page is vague this list says how it was read:
//  - "All ES 5.1 Date features", "All ES 5.1 math methods", "ALL ES 5 numbers": the ES 5.1 members.
//  - "Object.prototype.is()" / "Object.prototype.setPrototypeOf()" (listed under ES 6 prototype methods)
//    are the statics Object.is / Object.setPrototypeOf; "Symbol.keyfor()" is Symbol.keyFor.
//  - toString/valueOf/constructor (and Date's toJSON) stay on every prototype: the language calls them
//    implicitly (string concatenation, JSON.stringify), and the page lists them where it lists prototypes.
//  - Only the regular-expression flags whose accessors are listed (global, ignoreCase, multiline, sticky):
//    g, i, m, y.

export const RUNTIME_20_URL =
  'https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-javascript-runtime-20.html';

// Core features: the statements (ES 5.1 + const/let + async/await) as ESTree node types.
export const STATEMENT_NODES = [
  'BreakStatement', 'CatchClause', 'ContinueStatement', 'DoWhileStatement', 'IfStatement', 'ForStatement',
  'ForInStatement', 'LabeledStatement', 'ReturnStatement', 'SwitchStatement', 'SwitchCase', 'ThrowStatement',
  'TryStatement', 'VariableDeclaration', 'VariableDeclarator', 'WhileStatement', 'AwaitExpression',
  // what any ES 5.1 program is made of
  'Program', 'ExpressionStatement', 'BlockStatement', 'EmptyStatement', 'FunctionDeclaration',
];
// Expressions: ES 5.1 plus template literals (ES 6), arrow functions and rest parameters (ES 6).
export const EXPRESSION_NODES = [
  'ThisExpression', 'ArrayExpression', 'ObjectExpression', 'Property', 'FunctionExpression',
  'ArrowFunctionExpression', 'UnaryExpression', 'UpdateExpression', 'BinaryExpression', 'AssignmentExpression',
  'LogicalExpression', 'MemberExpression', 'ConditionalExpression', 'CallExpression', 'NewExpression',
  'SequenceExpression', 'Identifier', 'Literal', 'TemplateLiteral', 'TemplateElement', 'RestElement',
  // `import cf from 'cloudfront'` (the helper module), nothing else is importable
  'ImportDeclaration', 'ImportDefaultSpecifier',
];

// "All ES 5.1 operators are supported. The ES 7 exponentiation operator (**) is supported."
export const BINARY_OPERATORS = [
  '==', '!=', '===', '!==', '<', '<=', '>', '>=', '<<', '>>', '>>>', '+', '-', '*', '/', '%', '|', '^', '&',
  'in', 'instanceof', '**',
];
export const LOGICAL_OPERATORS = ['||', '&&'];
export const UNARY_OPERATORS = ['-', '+', '!', '~', 'typeof', 'void', 'delete'];
export const UPDATE_OPERATORS = ['++', '--'];
export const ASSIGNMENT_OPERATORS = ['=', '+=', '-=', '*=', '/=', '%=', '<<=', '>>=', '>>>=', '|=', '^=', '&='];
export const REGEXP_FLAGS = 'gimy';

const ES51_DATE_PROTO = [
  'getDate', 'getDay', 'getFullYear', 'getHours', 'getMilliseconds', 'getMinutes', 'getMonth', 'getSeconds',
  'getTime', 'getTimezoneOffset', 'getUTCDate', 'getUTCDay', 'getUTCFullYear', 'getUTCHours',
  'getUTCMilliseconds', 'getUTCMinutes', 'getUTCMonth', 'getUTCSeconds', 'setDate', 'setFullYear', 'setHours',
  'setMilliseconds', 'setMinutes', 'setMonth', 'setSeconds', 'setTime', 'setUTCDate', 'setUTCFullYear',
  'setUTCHours', 'setUTCMilliseconds', 'setUTCMinutes', 'setUTCMonth', 'setUTCSeconds', 'toDateString',
  'toISOString', 'toJSON', 'toLocaleDateString', 'toLocaleString', 'toLocaleTimeString', 'toString',
  'toTimeString', 'toUTCString', 'valueOf',
];
const TYPED_ARRAY_PROTO = [
  'copyWithin', 'every', 'fill', 'filter', 'find', 'findIndex', 'forEach', 'includes', 'indexOf', 'join',
  'lastIndexOf', 'map', 'reduce', 'reduceRight', 'reverse', 'some', 'set', 'slice', 'sort', 'subarray', 'toString',
];
const MATH = [
  'abs', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'cbrt', 'ceil', 'clz32', 'cos', 'cosh', 'exp',
  'expm1', 'floor', 'fround', 'hypot', 'imul', 'log', 'log1p', 'log2', 'log10', 'max', 'min', 'pow', 'random',
  'round', 'sign', 'sinh', 'sin', 'sqrt', 'tan', 'tanh', 'trunc',
  'E', 'LN10', 'LN2', 'LOG10E', 'LOG2E', 'PI', 'SQRT1_2', 'SQRT2',
];
export const TYPED_ARRAYS = [
  'Float32Array', 'Float64Array', 'Int8Array', 'Int16Array', 'Int32Array', 'Uint8Array', 'Uint8ClampedArray',
  'Uint16Array', 'Uint32Array',
];
export const ERROR_TYPES = [
  'Error', 'EvalError', 'InternalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError',
];

/** Built-in objects: `static` = members of the constructor/namespace, `proto` = prototype methods. */
export const BUILTINS = {
  Object: {
    static: ['create', 'defineProperties', 'defineProperty', 'freeze', 'getOwnPropertyDescriptor',
      'getOwnPropertyDescriptors', 'getOwnPropertyNames', 'getPrototypeOf', 'isExtensible', 'isFrozen', 'isSealed',
      'keys', 'preventExtensions', 'seal', 'assign', 'entries', 'values', 'is', 'setPrototypeOf'],
    proto: ['hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toString', 'valueOf'],
  },
  String: {
    static: ['fromCharCode', 'fromCodePoint'],
    proto: ['charAt', 'concat', 'indexOf', 'lastIndexOf', 'match', 'replace', 'search', 'slice', 'split', 'substr',
      'substring', 'toLowerCase', 'trim', 'toUpperCase', 'codePointAt', 'endsWith', 'includes', 'repeat',
      'startsWith', 'padStart', 'padEnd', 'trimStart', 'trimEnd', 'replaceAll', 'toString', 'valueOf'],
  },
  Number: {
    static: ['EPSILON', 'MAX_SAFE_INTEGER', 'MIN_SAFE_INTEGER', 'MAX_VALUE', 'MIN_VALUE', 'NaN', 'NEGATIVE_INFINITY',
      'POSITIVE_INFINITY', 'isFinite', 'isInteger', 'isNaN', 'isSafeInteger', 'parseInt', 'parseFloat'],
    proto: ['toExponential', 'toFixed', 'toPrecision', 'toString', 'toLocaleString', 'valueOf'],
  },
  Boolean: { static: [], proto: ['toString', 'valueOf'] },
  Math: { static: MATH, proto: null },
  Date: { static: ['now', 'parse', 'UTC'], proto: ES51_DATE_PROTO },
  Function: { static: [], proto: ['apply', 'bind', 'call', 'toString'] },
  RegExp: { static: [], proto: ['exec', 'test', 'toString'] },
  JSON: { static: ['parse', 'stringify'], proto: null },
  Array: {
    static: ['isArray', 'of'],
    proto: ['concat', 'every', 'filter', 'forEach', 'indexOf', 'join', 'lastIndexOf', 'map', 'pop', 'push', 'reduce',
      'reduceRight', 'reverse', 'shift', 'slice', 'some', 'sort', 'splice', 'unshift', 'copyWithin', 'fill', 'find',
      'findIndex', 'includes', 'toString'],
  },
  TypedArray: { static: ['from', 'of'], proto: TYPED_ARRAY_PROTO }, // %TypedArray%, behind every typed array
  ArrayBuffer: { static: ['isView'], proto: ['slice'] },
  Promise: {
    static: ['all', 'allSettled', 'any', 'reject', 'resolve', 'race'],
    proto: ['catch', 'finally', 'then'],
  },
  DataView: {
    static: [],
    proto: ['getFloat32', 'getFloat64', 'getInt16', 'getInt32', 'getInt8', 'getUint16', 'getUint32', 'getUint8',
      'setFloat32', 'setFloat64', 'setInt16', 'setInt32', 'setInt8', 'setUint16', 'setUint32', 'setUint8'],
  },
  Symbol: { static: ['for', 'keyFor'], proto: ['toString', 'valueOf'] },
  TextDecoder: { static: [], proto: ['decode', 'encoding', 'fatal', 'ignoreBOM'] },
  TextEncoder: { static: [], proto: ['encode', 'encodeInto'] },
  console: { static: ['log'], proto: null },
};
for (const name of TYPED_ARRAYS) BUILTINS[name] = { static: ['from', 'of', 'BYTES_PER_ELEMENT'], proto: [] };
for (const name of ERROR_TYPES) BUILTINS[name] = { static: [], proto: ['toString'] };

// Globals: globalThis, the ES 5.1 global functions, atob/btoa, the constants (and `arguments`).
export const GLOBAL_FUNCTIONS = [
  'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'isFinite', 'isNaN', 'parseFloat',
  'parseInt', 'atob', 'btoa',
];
export const GLOBAL_CONSTANTS = ['globalThis', 'NaN', 'Infinity', 'undefined', 'arguments'];

// Built-in modules: Buffer, querystring (require('querystring')), crypto (require('crypto')); and the
// CloudFront helper module (`import cf from 'cloudfront'`: KeyValueStore and origin helpers).
export const MODULES = {
  Buffer: {
    static: ['alloc', 'allocUnsafe', 'byteLength', 'compare', 'concat', 'from', 'isBuffer', 'isEncoding'],
    proto: ['compare', 'copy', 'equals', 'fill', 'includes', 'indexOf', 'lastIndexOf', 'readInt8', 'readIntBE',
      'readInt16BE', 'readInt32BE', 'readIntLE', 'readInt16LE', 'readInt32LE', 'readUInt8', 'readUIntBE',
      'readUInt16BE', 'readUInt32BE', 'readUIntLE', 'readUInt16LE', 'readUInt32LE', 'readDoubleBE', 'readDoubleLE',
      'readFloatBE', 'readFloatLE', 'subarray', 'swap16', 'swap32', 'swap64', 'toJSON', 'toString', 'write',
      'writeInt8', 'writeIntBE', 'writeInt16BE', 'writeInt32BE', 'writeIntLE', 'writeInt16LE', 'writeInt32LE',
      'writeUInt8', 'writeUIntBE', 'writeUInt16BE', 'writeUInt32BE', 'writeUIntLE', 'writeUInt16LE',
      'writeUInt32LE', 'writeDoubleBE', 'writeDoubleLE', 'writeFloatBE', 'writeFloatLE'],
  },
  querystring: { static: ['escape', 'parse', 'decode', 'stringify', 'encode', 'unescape'], proto: null },
  crypto: { static: ['createHash', 'createHmac'], proto: ['update', 'digest'] },
  cloudfront: {
    static: ['kvs', 'updateRequestOrigin', 'selectRequestOriginById', 'createRequestOriginGroup'],
    proto: ['get', 'exists', 'meta'],
  },
};
export const REQUIRABLE = ['crypto', 'querystring', 'buffer'];
export const HASH_ALGORITHMS = ['md5', 'sha1', 'sha256'];

/** Every global name a function may reference without declaring it. */
export const GLOBALS = new Set([
  ...Object.keys(BUILTINS).filter((n) => n !== 'TypedArray'), ...GLOBAL_FUNCTIONS, ...GLOBAL_CONSTANTS,
  'require', 'Buffer',
]);

/**
 * Every method a value can have: the built-ins' prototype methods and the modules' functions (a module is
 * reached through a variable: `var crypto = require('crypto'); crypto.createHash(...)`). A call `x.name()`
 * on a value of unknown type must use one of these; the built-ins' statics (Object.keys, ...) are only
 * reachable through the built-in itself, which is checked against its own list.
 */
export const METHOD_NAMES = new Set();
for (const { proto } of Object.values(BUILTINS)) for (const name of proto ?? []) METHOD_NAMES.add(name);
for (const { static: s, proto } of Object.values(MODULES)) {
  for (const name of [...(s ?? []), ...(proto ?? [])]) METHOD_NAMES.add(name);
}

// HTTP headers (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/edge-function-restrictions-all.html):
// disallowed headers are not exposed to the function and it cannot add them; read-only headers of a
// viewer-request event can be read but not added, changed or removed. Either breaks validation: 502.
export const DISALLOWED_HEADERS = [
  'connection', 'expect', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'trailer', 'upgrade', 'x-accel-buffering', 'x-accel-charset', 'x-accel-limit-rate', 'x-accel-redirect',
  'x-amzn-auth', 'x-amzn-cf-billing', 'x-amzn-cf-id', 'x-amzn-cf-xff', 'x-amzn-errortype', 'x-amzn-fle-profile',
  'x-amzn-header-count', 'x-amzn-header-order', 'x-amzn-lambda-integration-tag', 'x-amzn-requestid', 'x-cache',
  'x-forwarded-proto', 'x-real-ip',
];
export const DISALLOWED_HEADER_PREFIXES = ['x-amz-cf-', 'x-edge-'];
export const READ_ONLY_REQUEST_HEADERS = ['content-length', 'host', 'transfer-encoding', 'via'];

export function isDisallowedHeader(name) {
  return DISALLOWED_HEADERS.includes(name) || DISALLOWED_HEADER_PREFIXES.some((p) => name.startsWith(p));
}
