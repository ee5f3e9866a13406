// The npm `memcached` client (node-memcached 2.2.2, text protocol) against one endpoint: every
// command it has, with its own idea of success and failure. Run by node_memcached_test.py:
//
//   node memcached_client_test.js PORT
//
// Exits 1 at the first check that fails, 2 if the whole run takes more than 30 s. On success
// prints one JSON line, {"items": {key: {"flags": N, "value": base64}}}: what the keys it left
// behind must hold on each node of the pair, in the server's bytes.
'use strict';

const assert = require('node:assert/strict');
const Memcached = require('memcached');

const port = Number(process.argv[2]);
if (!port) {
  console.error('usage: node memcached_client_test.js PORT');
  process.exit(64);
}
setTimeout(() => {
  console.error('FAIL: the node client did not finish within 30 s');
  process.exit(2);
}, 30000).unref();

// node-memcached's flags for the value types it stores (lib/memcached.js).
const FLAG_JSON = 2;
const FLAG_BINARY = 4;
const FLAG_NUMERIC = 8;

const client = new Memcached(`127.0.0.1:${port}`, {retries: 0, timeout: 5000, reconnect: 1000});
// The client's callback API as promises: resolves with the result, rejects with the error.
const call = (method, ...args) => new Promise((resolve, reject) => {
  client[method](...args, (err, data) => (err ? reject(err) : resolve(data)));
});
const rejects = async (method, ...args) => {
  try {
    await call(method, ...args);
  } catch (err) {
    return err;
  }
  assert.fail(`${method} ${args[0]} succeeded, expected an error`);
};

const left = {};  // key -> {flags, value}: what each node must hold at the end
const expect = (key, flags, value) => {
  left[key] = {flags, value: Buffer.from(value).toString('base64')};
};

async function main() {
  // node-memcached parses the LAST x.y.z of the VERSION line, so for memtwin's
  // "1.6.18-memtwin-0.1.0" it reports 0.1.0 (memcached's "1.6.18" parses as 1.6.18). It uses the
  // number for nothing; the full string is checked through stats below.
  const versions = await call('version');
  assert.equal(versions.length, 1);
  assert.equal(versions[0].server, `127.0.0.1:${port}`);
  assert.match(versions[0].version, /^\d+\.\d+\.\d+$/, JSON.stringify(versions));

  // Strings, JSON, numbers, buffers: node-memcached marks each type with its flag.
  assert.equal(await call('set', 'node:string', 'hello from node', 0), true);
  assert.equal(await call('get', 'node:string'), 'hello from node');
  expect('node:string', 0, 'hello from node');
  const doc = {user: 42, tags: ['a', 'b'], nested: {ok: true}};
  assert.equal(await call('set', 'node:json', doc, 0), true);
  assert.deepEqual(await call('get', 'node:json'), doc);
  expect('node:json', FLAG_JSON, JSON.stringify(doc));
  assert.equal(await call('set', 'node:number', 1234.5, 0), true);
  assert.equal(await call('get', 'node:number'), 1234.5);
  expect('node:number', FLAG_NUMERIC, '1234.5');
  const buf = Buffer.from('plain ascii bytes in a Buffer');
  assert.equal(await call('set', 'node:buffer', buf, 0), true);
  assert.deepEqual(await call('get', 'node:buffer'), buf);
  expect('node:buffer', FLAG_BINARY, buf);
  const big = 'x'.repeat(500 * 1024);
  assert.equal(await call('set', 'node:big', big, 0), true);
  assert.equal(await call('get', 'node:big'), big);
  expect('node:big', 0, big);
  assert.equal(await call('get', 'node:missing'), undefined);

  // add / replace: NOT_STORED is an error with notStored set.
  assert.equal(await call('add', 'node:added', 'first', 0), true);
  assert.equal((await rejects('add', 'node:added', 'second', 0)).notStored, true);
  assert.equal((await rejects('replace', 'node:missing', 'v', 0)).notStored, true);
  assert.equal(await call('replace', 'node:added', 'replaced', 0), true);
  expect('node:added', 0, 'replaced');

  // gets / cas: the right CAS stores, a stale one does not (EXISTS -> false).
  const first = await call('gets', 'node:string');
  assert.equal(first['node:string'], 'hello from node');
  assert.match(first.cas, /^\d+$/);
  assert.equal(await call('cas', 'node:string', 'swapped', first.cas, 0), true);
  assert.equal(await call('cas', 'node:string', 'stale', first.cas, 0), false);
  assert.equal(await call('get', 'node:string'), 'swapped');
  expect('node:string', 0, 'swapped');

  // append / prepend, incr / decr (NOT_FOUND -> false), touch, del.
  assert.equal(await call('set', 'node:text', 'middle', 0), true);
  assert.equal(await call('append', 'node:text', '>end'), true);
  assert.equal(await call('prepend', 'node:text', 'start<'), true);
  assert.equal(await call('get', 'node:text'), 'start<middle>end');
  expect('node:text', 0, 'start<middle>end');
  assert.equal(await call('set', 'node:counter', '10', 0), true);
  assert.equal(await call('incr', 'node:counter', 5), 15);
  assert.equal(await call('decr', 'node:counter', 20), 0);  // memcached stops at 0
  assert.equal(await call('incr', 'node:counter', 7), 7);
  assert.equal(await call('incr', 'node:missing', 1), false);
  // As memcached: a shorter result keeps the item's length, padded with spaces ("15" -> "0 ").
  expect('node:counter', 0, '7 ');
  assert.equal(await call('touch', 'node:text', 3600), true);
  assert.equal(await call('set', 'node:deleted', 'soon gone', 0), true);
  assert.equal(await call('del', 'node:deleted'), true);
  assert.equal(await call('get', 'node:deleted'), undefined);
  assert.equal(await call('del', 'node:deleted'), false);

  // getMulti over 200 keys, some missing.
  const many = {};
  for (let i = 0; i < 200; i++) {
    many[`node:multi:${i}`] = `value ${i}`;
    assert.equal(await call('set', `node:multi:${i}`, `value ${i}`, 0), true);
    expect(`node:multi:${i}`, 0, `value ${i}`);
  }
  const got = await call('getMulti', [...Object.keys(many), 'node:missing', 'node:gone']);
  assert.deepEqual(got, many);

  // stats, stats settings, stats items, stats slabs: objects of numbers and strings.
  const [stats] = await call('stats');
  assert.match(stats.version, /^1\.6\.18-memtwin/);
  assert.ok(stats.curr_items >= 206, `curr_items ${stats.curr_items}`);
  assert.equal(typeof stats.get_hits, 'number');
  const [settings] = await call('settings');
  assert.equal(settings.item_size_max, 1048576);
  const items = await call('items');
  assert.ok(items.length >= 1 && Object.keys(items[0]).length > 1, JSON.stringify(items));
  const slabs = await call('slabs');
  assert.ok(slabs.length >= 1 && Object.keys(slabs[0]).length > 1, JSON.stringify(slabs));

  client.end();
  console.log(JSON.stringify({items: left}));
}

main().catch((err) => {
  console.error(`FAIL: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
