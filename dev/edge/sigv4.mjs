// Minimal AWS Signature Version 4 for the edge's S3 GetObject/HeadObject calls (no body), so --bucket
// works against the local stack (moto treats unsigned requests as anonymous) and would against S3.
import crypto from 'node:crypto';

const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');

const hmac = (key, data) => crypto.createHmac('sha256', key).update(data, 'utf8').digest();
const sha256 = (data) => crypto.createHash('sha256').update(data, 'utf8').digest('hex');

/** S3's URI encoding of one path segment: RFC 3986 unreserved characters stay, all else is %XX. */
export function encodeS3Segment(segment) {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Encodes a decoded object key into a path, keeping '/' separators. */
export function encodeS3Key(key) {
  return key.split('/').map(encodeS3Segment).join('/');
}

function amzDate(now) {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/**
 * Returns the headers to send (incl. authorization). `payloadHash` is the body's hex sha256 (default: empty body).
 * `url` must already be canonically encoded (see encodeS3Key); query strings are not used here.
 */
export function signRequest({ method, url, headers = {}, region, service = 's3', accessKeyId, secretAccessKey, sessionToken, now = new Date(), payloadHash = EMPTY_SHA256 }) {
  const target = new URL(url);
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const all = { ...headers, host: target.host, 'x-amz-date': date, 'x-amz-content-sha256': payloadHash };
  if (sessionToken) all['x-amz-security-token'] = sessionToken;
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([n, v]) => [n.toLowerCase(), String(v).trim().replace(/\s+/g, ' ')]));
  const canonicalHeaders = names.map((n) => `${n}:${lower[n]}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [method, target.pathname, '', canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), region), service), 'aws4_request');
  const signature = crypto.createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
  return {
    ...all,
    authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}
