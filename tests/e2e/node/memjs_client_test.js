// The npm `memjs` client (memjs 1.3.2, binary protocol only) against the two nodes of a pair:
// what it writes through node A it must read through node B, and the other way round, with its
// own idea of success and failure. Run by node_memjs_test.py:
//
//   node memjs_client_test.js PORT_A PORT_B
//
// Replication is asynchronous, so every read on the other node polls (up to 5 s) until it sees
// the write. Exits 1 at the first check that fails, 2 if the whole run takes more than 30 s. On
// success prints one JSON line, {"items": {key: {"flags": N, "value": base64}}}: what the keys
// it left behind must hold on each node, in the server's bytes.
'use strict';

const assert = require('node:assert/strict');
const memjs = require('memjs');

const [portA, portB] = process.argv.slice(2).map(Number);
if (!portA || !portB) {
  console.error('usage: node memjs_client_test.js PORT_A PORT_B');
  process.exit(64);
}
setTimeout(() => {
  console.error('FAIL: the memjs client did not finish within 30 s');
  process.exit(2);
}, 30000).unref();

// memjs sends flags 0 and offers no option for them; a serializer writes the extras, whose first
// four bytes are the flags of set, add and replace.
const FLAGS = 0x2a;
const withFlags = {
  serialize(opcode, value, extras) {
    if (extras.length === 8) {
      extras = Buffer.from(extras);
      extras.writeUInt32BE(FLAGS, 0);
    }
    return {value, extras};
  },
  deserialize(opcode, value, extras) {
    return {value, extras};
  },
};
// retries 1: a failed request fails at once, it is not resent.
const options = {retries: 1, timeout: 5, logger: {log() {}}};
const a = memjs.Client.create(`127.0.0.1:${portA}`, options);
const b = memjs.Client.create(`127.0.0.1:${portB}`, options);
const aFlags = memjs.Client.create(`127.0.0.1:${portA}`, {...options, serializer: withFlags});

const left = {};  // key -> {flags, value}: what each node must hold at the end
const expect = (key, flags, value) => {
  left[key] = {flags, value: Buffer.from(value).toString('base64')};
};

// get through `client`, as {value: Buffer|null, flags: number|null}.
async function get(client, key) {
  const {value, flags} = await client.get(key);
  return {value, flags: flags === null ? null : flags.readUInt32BE(0)};
}

// Polls get(client, key) until it returns `value` (a string or Buffer; null: missing) with
// `flags`; fails with the last answer after 5 s.
async function eventually(client, key, value, flags = 0) {
  const want = value === null ? null : Buffer.from(value);
  const deadline = Date.now() + 5000;
  for (;;) {
    const got = await get(client, key);
    const same = want === null
        ? got.value === null
        : got.value !== null && want.equals(got.value) && got.flags === flags;
    if (same) return;
    if (Date.now() > deadline) {
      const shown = (v) => (v === null ? 'a miss' : JSON.stringify(String(v).slice(0, 60)));
      assert.fail(`${key}: expected ${shown(want)} flags ${flags}, the node answers ` +
                  `${shown(got.value)} flags ${got.flags}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Expects the promise to reject with memjs's message for that status.
async function rejects(promise, message) {
  await assert.rejects(promise, (err) => err.message.includes(message));
}

async function main() {
  // Written on A, read on B: strings, a miss, bytes that are not text, a 500 KB value, flags.
  assert.equal(await a.set('memjs:string', 'hello from memjs'), true);
  await eventually(b, 'memjs:string', 'hello from memjs');
  expect('memjs:string', 0, 'hello from memjs');
  assert.deepEqual(await get(a, 'memjs:missing'), {value: null, flags: null});
  assert.deepEqual(await get(b, 'memjs:missing'), {value: null, flags: null});
  const bytes = Buffer.from(Array.from({length: 256}, (_, i) => i));  // every byte, \r\n and \0
  assert.equal(await a.set('memjs:bytes', bytes), true);
  await eventually(b, 'memjs:bytes', bytes);
  expect('memjs:bytes', 0, bytes);
  const big = 'x'.repeat(500 * 1024);
  assert.equal(await a.set('memjs:big', big), true);
  await eventually(b, 'memjs:big', big);
  expect('memjs:big', 0, big);
  assert.equal(await aFlags.set('memjs:flags', 'flagged'), true);
  await eventually(b, 'memjs:flags', 'flagged', FLAGS);
  expect('memjs:flags', FLAGS, 'flagged');

  // add / replace: add of an existing key and replace of a missing one are false.
  assert.equal(await a.add('memjs:added', 'first'), true);
  await eventually(b, 'memjs:added', 'first');
  assert.equal(await b.add('memjs:added', 'second'), false);
  assert.equal(await b.replace('memjs:missing', 'v'), false);
  assert.equal(await b.replace('memjs:added', 'replaced'), true);
  await eventually(a, 'memjs:added', 'replaced');
  expect('memjs:added', 0, 'replaced');

  // append / prepend on B, read on A; on a missing key memcached says "Not stored". memjs
  // 1.3.2's prepend sends APPEND's opcode (0x0e, lib/memjs/memjs.js), so it appends too.
  assert.equal(await b.set('memjs:text', 'middle'), true);
  assert.equal(await b.append('memjs:text', '>end'), true);
  assert.equal(await b.prepend('memjs:text', '<start'), true);
  await eventually(a, 'memjs:text', 'middle>end<start');
  expect('memjs:text', 0, 'middle>end<start');
  await rejects(b.append('memjs:missing', 'x'), 'Item not stored');

  // increment creates the counter with its initial value; decrement stops at 0. (Options are
  // always passed: memjs 1.3.2's decrement reads options.initial without checking for one.)
  assert.deepEqual(await a.increment('memjs:counter', 5, {initial: 10}),
                   {success: true, value: 10});
  assert.deepEqual(await a.increment('memjs:counter', 5, {}), {success: true, value: 15});
  await eventually(b, 'memjs:counter', '15');
  assert.deepEqual(await b.decrement('memjs:counter', 20, {}), {success: true, value: 0});
  assert.deepEqual(await b.increment('memjs:counter', 7, {}), {success: true, value: 7});
  // As memcached: a shorter number keeps the item's length, padded with spaces ("15" -> "7 ").
  await eventually(a, 'memjs:counter', '7 ');
  expect('memjs:counter', 0, '7 ');
  await rejects(a.increment('memjs:text', 1, {}), 'Incr/Decr on non-numeric value');

  // touch, delete (written on one node, gone from the other).
  assert.equal(await a.touch('memjs:text', 3600), true);
  assert.equal(await a.touch('memjs:missing', 3600), false);
  assert.equal(await a.set('memjs:deleted', 'soon gone'), true);
  await eventually(b, 'memjs:deleted', 'soon gone');
  assert.equal(await b.delete('memjs:deleted'), true);
  await eventually(a, 'memjs:deleted', null);
  assert.equal(await a.delete('memjs:deleted'), false);

  // stats over the binary protocol: one call per server, name -> string.
  const stats = await new Promise((resolve, reject) => {
    a.stats((err, server, s) => (err ? reject(err) : resolve(s)));
  });
  assert.match(stats.version, /^1\.6\.18-memtwin/);
  assert.ok(Number(stats.curr_items) >= Object.keys(left).length, JSON.stringify(stats));

  for (const client of [a, b, aFlags]) client.close();
  console.log(JSON.stringify({items: left}));
}

main().catch((err) => {
  console.error(`FAIL: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
