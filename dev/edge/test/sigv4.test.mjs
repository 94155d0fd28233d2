import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeS3Key, signRequest } from '../sigv4.mjs';

describe('sigv4', () => {
  it('matches the S3 documentation example (GET Object with Range)', () => {
    const headers = signRequest({
      method: 'GET',
      url: 'https://examplebucket.s3.amazonaws.com/test.txt',
      headers: { range: 'bytes=0-9' },
      region: 'us-east-1',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      now: new Date('2013-05-24T00:00:00Z'),
    });
    assert.equal(
      headers.authorization,
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, '
        + 'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, '
        + 'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it('encodes keys the way S3 canonicalises them', () => {
    assert.equal(encodeS3Key("a b/c(1)!/é*.js"), 'a%20b/c%281%29%21/%C3%A9%2A.js');
  });
});
