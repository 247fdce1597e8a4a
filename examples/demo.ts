/**
 * `npm run demo`: a real loopback auth server with rotating refresh tokens, an access token that
 * has just expired, and 1,000 concurrent requests, first through a naive refresh interceptor, then
 * through axios-refresh-gate. Prints both side by side.
 *
 *   npm run demo -- --requests 5000 --refresh-latency-ms 100
 */
import { parseArgs } from 'node:util';
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
    printTable([naive, gated]);
    const ok = gated.refreshCalls === 1 && gated.succeeded === requests && gated.sessionAlive;
    console.log(
      ok
        ? '\nThe gate ran one refresh; every request was replayed with the new token.'
        : '\nUnexpected: the gate did not run exactly one refresh with every request succeeding.',
    );
    process.exitCode = ok ? 0 : 1;
  } finally {
    await server.close();
  }
}

function printTable(results: StormResult[]): void {
  const rows: Array<[string, (r: StormResult) => string]> = [
    ['refresh calls', (r) => String(r.refreshCalls)],
    ['requests succeeded', (r) => `${r.succeeded} / ${r.requests}`],
    ['requests failed', (r) => String(r.failed)],
    [
      'failures by kind',
      (r) =>
        Object.entries(r.errors)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ') || '-',
    ],
    ['session revoked', (r) => (r.familiesRevoked > 0 ? 'yes (refresh token reuse)' : 'no')],
    ['session usable after', (r) => (r.sessionAlive ? 'yes' : 'no (user logged out)')],
    ['wall time', (r) => `${Math.round(r.ms)} ms`],
  ];
  const header = ['', 'naive interceptor', 'axios-refresh-gate'];
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
