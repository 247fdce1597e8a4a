/**
 * `npm run demo`: a real loopback auth server with rotating refresh tokens, an access token that
 * has just expired, and 1,000 concurrent requests, first through a naive refresh interceptor, then
 * through axios-refresh-gate. Prints both side by side. Then two rounds of real life: a network
 * that drops the first two refresh attempts, and a wrong password at login.
 *
 *   npm run demo -- --requests 5000 --refresh-latency-ms 100
 */
import { parseArgs } from 'node:util';
import {
  flakyNetworkRound,
  type ProviderRoundResult,
  type RoundResult,
  realProviderRound,
  type WrongPasswordResult,
  wrongPasswordRound,
} from './real-life.js';
import { startAuthServer } from './server/auth-server.js';
import { type StormResult, storm } from './storm.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '1000' },
      'refresh-latency-ms': { type: 'string', default: '50' },
    },
  });
  const requests = Number(values.requests);
  const refreshLatencyMs = Number(values['refresh-latency-ms']);
  if (!Number.isInteger(requests) || requests < 1)
    throw new Error('--requests must be a positive integer');

  const server = await startAuthServer({ port: 0, refreshLatencyMs });
  try {
    console.log(
      `Auth server on ${server.url}: rotating refresh tokens, reuse revokes the session,`,
    );
    console.log(
      `refresh takes ${refreshLatencyMs} ms. Log in, let the access token expire, then fire`,
    );
    console.log(`${requests} concurrent requests through each client.\n`);
    const naive = await storm(server, 'naive', requests);
    const gated = await storm(server, 'gated', requests);
    printTable(['', 'naive interceptor', 'axios-refresh-gate'], STORM_ROWS, [naive, gated]);
    const stormOk = gated.refreshCalls === 1 && gated.succeeded === requests && gated.sessionAlive;
    console.log(
      stormOk
        ? '\nThe gate ran one refresh; every request was replayed with the new token.'
        : '\nUnexpected: the gate did not run exactly one refresh with every request succeeding.',
    );

    console.log(
      '\nA flaky network: 20 requests just after the token expired; the first two refresh attempts',
    );
    console.log(
      "lose their connection. The naive client logs out when a refresh fails; the gate's app only",
    );
    console.log('when it is terminal (the quick start).\n');
    const flaky = await flakyNetworkRound(server);
    printTable(['', ...flaky.map((r) => r.client)], FLAKY_ROWS, flaky);
    const kept = flaky.at(-1);
    const flakyOk = kept?.sessionKept === true && kept.succeeded === kept.requests;
    console.log(
      flakyOk
        ? '\nThe gate retried inside the one refresh: every request succeeded, the session was kept.'
        : '\nUnexpected: the gate lost requests or the session on a flaky network.',
    );

    console.log(
      '\nA wrong password: nobody is logged in, and the login goes through the client.\n',
    );
    const wrong = await wrongPasswordRound(server);
    printTable(['', ...wrong.map((r) => r.client)], WRONG_PASSWORD_ROWS, wrong);
    const gate = wrong.at(-1);
    const wrongOk =
      gate?.refreshCalls === 0 && gate.told.startsWith('401') && !gate.failureHandlerRan;
    console.log(
      wrongOk
        ? "\nThe gate had nothing to refresh: the login form got the login's own 401."
        : '\nUnexpected: the wrong password did not reach the login form as its own 401.',
    );

    console.log(
      '\nA real OpenID provider (oidc-provider, certified): it rotates the refresh token and revokes',
    );
    console.log(
      `the whole grant when a rotated one comes back. 3 s access tokens; ${Math.min(requests, 200)} requests after expiry.\n`,
    );
    const provider = await realProviderRound(Math.min(requests, 200));
    printTable(['', ...provider.map((r) => r.client)], PROVIDER_ROWS, provider);
    const real = provider.at(-1);
    const providerOk =
      real?.refreshCalls === 1 && real.succeeded === real.requests && real.grantsRevoked === 0;
    console.log(
      providerOk
        ? '\nOne refresh at the provider; the grant lives on.'
        : '\nUnexpected: the gate did not keep the grant at the real provider.',
    );
    process.exitCode = stormOk && flakyOk && wrongOk && providerOk ? 0 : 1;
  } finally {
    await server.close();
  }
}

type Rows<T> = Array<[string, (result: T) => string]>;

const failures = (errors: Record<string, number>): string =>
  Object.entries(errors)
    .map(([kind, count]) => `${kind}: ${count}`)
    .join(', ') || '-';

const STORM_ROWS: Rows<StormResult> = [
  ['refresh calls', (r) => String(r.refreshCalls)],
  ['requests succeeded', (r) => `${r.succeeded} / ${r.requests}`],
  ['requests failed', (r) => String(r.failed)],
  ['failures by kind', (r) => failures(r.errors)],
  ['session revoked', (r) => (r.familiesRevoked > 0 ? 'yes (refresh token reuse)' : 'no')],
  ['session usable after', (r) => (r.sessionAlive ? 'yes' : 'no (user logged out)')],
  ['wall time', (r) => `${Math.round(r.ms)} ms`],
];

const FLAKY_ROWS: Rows<RoundResult> = [
  ['refresh calls', (r) => String(r.refreshCalls)],
  ['requests succeeded', (r) => `${r.succeeded} / ${r.requests}`],
  ['failures by kind', (r) => failures(r.errors)],
  ['session revoked', (r) => (r.familiesRevoked > 0 ? 'yes (refresh token reuse)' : 'no')],
  ['user logged out', (r) => (r.loggedOut ? 'yes' : 'no')],
  ['session kept', (r) => (r.sessionKept ? 'yes' : 'no')],
];

const WRONG_PASSWORD_ROWS: Rows<WrongPasswordResult> = [
  ['refresh calls', (r) => String(r.refreshCalls)],
  ['the login form is told', (r) => r.told],
  ['refresh-failed handler ran', (r) => (r.failureHandlerRan ? 'yes (logout, redirect)' : 'no')],
  ['right password then works', (r) => (r.rightPasswordWorks ? 'yes' : 'no')],
];

const PROVIDER_ROWS: Rows<ProviderRoundResult> = [
  ['refresh calls', (r) => String(r.refreshCalls)],
  ['requests succeeded', (r) => `${r.succeeded} / ${r.requests}`],
  ['grant revoked', (r) => (r.grantsRevoked > 0 ? 'yes (refresh token reuse)' : 'no')],
  ['session usable after', (r) => (r.sessionUsable ? 'yes' : 'no (user logged out)')],
];

function printTable<T>(header: string[], rows: Rows<T>, results: T[]): void {
  const body = rows.map(([label, cell]) => [label, ...results.map(cell)]);
  const widths = header.map((_, i) =>
    Math.max(...[header, ...body].map((row) => (row[i] ?? '').length)),
  );
  const line = (row: string[]) =>
    `| ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of body) console.log(line(row));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
