// deckhand SPA router: CloudFront Function (runtime cloudfront-js-2.0), viewer-request event,
// attached to the default (S3) behaviour only; /api/* goes to the ALB and never runs this.
//
// Rules, first match wins (see infra/functions/README.md for the table and the reasons):
//  1. /_deckhand and anything under /_deckhand/ (deckhand's release records, lock and
//     content-addressed objects) -> 404 generated here. The URI is percent-decoded for this
//     check, because S3 decodes the key: /%5Fdeckhand/lock would otherwise reach _deckhand/lock.
//  2. The last path segment ends in a known asset extension (.js, .css, .png, ... see
//     ASSET_EXTENSIONS) -> passed through untouched, so a missing asset is S3's honest 404.
//  3. Everything else -> uri = '/index.html' (a rewrite, not a redirect: the browser URL and the
//     query string stay as they are). This covers '/', '/chat', '/chat/' and dotted routes such as
//     '/u/jane.doe': "has a dot" does not mean "is a file", only a listed extension does.
//
// Runtime limits: ES5.1 plus let/const (no ?., ??, destructuring, spread), < 10 KB, no exports:
// CloudFront calls the global handler. dev/edge/ runs this exact file in an emulator that enforces
// those limits, and infra/functions/spa-router.test.mjs tests it there.

var PRIVATE_PREFIX = '_deckhand';

var ASSET_EXTENSIONS = {
  // scripts, styles, data
  js: 1, mjs: 1, cjs: 1, map: 1, css: 1, json: 1, webmanifest: 1, wasm: 1,
  txt: 1, xml: 1, csv: 1, pdf: 1, html: 1, htm: 1,
  // images
  png: 1, jpg: 1, jpeg: 1, gif: 1, svg: 1, webp: 1, avif: 1, ico: 1, bmp: 1,
  // fonts
  woff: 1, woff2: 1, ttf: 1, otf: 1, eot: 1,
  // media
  mp4: 1, webm: 1, mp3: 1, ogg: 1, wav: 1, vtt: 1
};

function notFound() {
  return {
    statusCode: 404,
    statusDescription: 'Not Found',
    headers: {
      'content-type': { value: 'text/plain; charset=utf-8' },
      'cache-control': { value: 'no-store' }
    },
    body: { encoding: 'text', data: 'Not Found\n' }
  };
}

// Percent-decodes a path the way S3 decodes an object key. Malformed escapes (which
// decodeURIComponent rejects) still get the two that matter here decoded: '_' and '/'.
function decodePath(uri) {
  try {
    return decodeURIComponent(uri);
  } catch (e) {
    return uri.replace(/%5f/gi, '_').replace(/%2f/gi, '/');
  }
}

function isPrivate(uri) {
  // Drop leading '/' and './' runs so '//_deckhand/x' and '/./_deckhand/x' are caught too.
  var path = decodePath(uri).replace(/^(?:\/|\.\/)+/, '');
  if (path.indexOf(PRIVATE_PREFIX) !== 0) return false;
  var rest = path.charAt(PRIVATE_PREFIX.length);
  return rest === '' || rest === '/';
}

function hasAssetExtension(uri) {
  var lastSlash = uri.lastIndexOf('/');
  var segment = uri.substring(lastSlash + 1);
  var dot = segment.lastIndexOf('.');
  // No dot, or a leading dot only ('.well-known'-style names): not an asset.
  if (dot <= 0 || dot === segment.length - 1) return false;
  var ext = segment.substring(dot + 1).toLowerCase();
  return ASSET_EXTENSIONS.hasOwnProperty(ext);
}

function handler(event) {
  var request = event.request;
  var uri = request.uri;

  if (isPrivate(uri)) return notFound();
  if (hasAssetExtension(uri)) return request;

  request.uri = '/index.html';
  return request;
}
