import assert from 'node:assert/strict';
import { containerNameFromUri } from '../src/migration/container-uri';

describe('container URI', () => {
  it('reads the container from emulator and Azure URIs, with or without the query', () => {
    assert.equal(containerNameFromUri('http://127.0.0.1:10000/devstoreaccount1/t2t-abc?sv=2025&sr=c&si=t2t-upload&sig=x'), 't2t-abc');
    assert.equal(containerNameFromUri('http://127.0.0.1:10000/devstoreaccount1/t2t-abc'), 't2t-abc');
    assert.equal(containerNameFromUri('https://acct.blob.core.windows.net/t2t-abc?sv=1'), 't2t-abc');
    assert.equal(containerNameFromUri('https://acct.blob.core.windows.net/t2t-abc/'), 't2t-abc');
  });

  it('rejects URIs past the container or without one', () => {
    assert.equal(containerNameFromUri('https://acct.blob.core.windows.net/t2t-abc/usermapping.csv?sv=1'), undefined);
    assert.equal(containerNameFromUri('https://acct.blob.core.windows.net/'), undefined);
    assert.equal(containerNameFromUri('not a url'), undefined);
    assert.equal(containerNameFromUri('https://acct.blob.core.windows.net/Bad_Name'), undefined);
  });
});
