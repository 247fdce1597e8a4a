// Loads the built package by its own name, as a consumer would, in both formats: the CJS and ESM
// builds must export the same names and put the token on a request.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import axios from 'axios';

const require = createRequire(import.meta.url);
const cjs = require('axios-refresh-gate');
const esm = await import('axios-refresh-gate');

const names = (mod) =>
  Object.keys(mod)
    .filter((name) => name !== 'default' && name !== 'module.exports')
    .sort();
assert.ok(names(cjs).length > 0, 'the CJS build exports nothing');
assert.deepEqual(names(esm), names(cjs), 'the ESM and CJS builds export different names');

for (const [format, mod] of [
  ['cjs', cjs],
  ['esm', esm],
]) {
  const api = axios.create({
    adapter: async (config) => ({
      data: config.headers.get('Authorization'),
      status: 200,
      statusText: 'OK',
      headers: {},
      config,
    }),
  });
  const gate = mod.attachRefreshGate(api, {
    refresh: async () => 'fresh',
    initialTokens: { accessToken: 'abc' },
  });
  const { data } = await api.get('/me');
  assert.equal(data, 'Bearer abc', `${format}: the token was not attached`);
  const refreshed = await gate.refresh();
  assert.equal(refreshed.accessToken, 'fresh', `${format}: refresh() did not store the new token`);
  gate.destroy();
}
// Every subpath throws the core's one RefreshGateError: it imports the core by the package's name
// (tsup.config.ts), so no subpath may carry a copy of the class, in either format.
const badOption = {
  browser: (mod) => mod.broadcastCoordinator({ name: '' }),
  redis: (mod) => mod.redisStore({ client: {}, key: 'k' }),
  server: (mod) => mod.createRefreshDeduper({ graceMs: -1 }),
};
for (const [format, load, core] of [
  ['cjs', async (name) => require(name), cjs],
  ['esm', (name) => import(name), esm],
]) {
  for (const [subpath, make] of Object.entries(badOption)) {
    const mod = await load(`axios-refresh-gate/${subpath}`);
    let error;
    try {
      make(mod);
    } catch (thrown) {
      error = thrown;
    }
    assert.ok(
      error instanceof core.RefreshGateError && error.code === 'INVALID_OPTIONS',
      `${format}: axios-refresh-gate/${subpath} does not throw the core's RefreshGateError`,
    );
  }
}
// The framework bindings load with their framework as a peer and read a gate of the core, in
// either format; React's hooks through react-dom/server (no DOM here), Vue's through an app's
// context.
const { createElement } = require('react');
const { renderToString } = require('react-dom/server');
const { createApp } = require('vue');
for (const [format, load, core] of [
  ['cjs', async (name) => require(name), cjs],
  ['esm', (name) => import(name), esm],
]) {
  const gate = core.createRefreshGate({
    refresh: async () => 'fresh',
    initialTokens: { accessToken: 'abc' },
  });
  const react = await load('axios-refresh-gate/react');
  const vue = await load('axios-refresh-gate/vue');
  for (const [subpath, mod] of [
    ['react', react],
    ['vue', vue],
  ]) {
    const other =
      format === 'cjs'
        ? await import(`axios-refresh-gate/${subpath}`)
        : require(`axios-refresh-gate/${subpath}`);
    assert.deepEqual(
      names(mod),
      names(other),
      `${subpath}: the ESM and CJS builds export different names`,
    );
  }
  // A server render reads the server snapshot (what no gate holds, so hydration matches), and the
  // provider's gate itself.
  const Probe = () =>
    `${react.useGateState().signedIn} ${react.useAccessToken()} ${react.useRefreshGate() === gate}`;
  const html = renderToString(
    createElement(react.RefreshGateProvider, { gate }, createElement(Probe)),
  );
  assert.equal(
    html,
    'null undefined true',
    `${format}: axios-refresh-gate/react did not read the gate`,
  );
  const app = createApp({}).use(vue.createRefreshGatePlugin(gate));
  const read = app.runWithContext(
    () => `${vue.useGateState().value.status} ${vue.useAccessToken().value}`,
  );
  assert.equal(read, 'idle abc', `${format}: axios-refresh-gate/vue did not read the gate`);
  gate.destroy();
}
console.log(
  `dist OK: ${names(cjs).length} exports, same in CJS and ESM; token attached in both; every subpath throws the core's RefreshGateError; react and vue bindings read a gate in both`,
);
