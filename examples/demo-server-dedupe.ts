/**
 * `npx tsx examples/demo-server-dedupe.ts`: the other side of the problem. Clients without a gate
 * (the naive refresh-and-retry interceptor) race 1,000 requests with an expired token; every 401
 * refreshes with the same refresh token. Against a plain server with rotating refresh tokens that
 * is reuse, and the session is revoked; against a server whose refresh route is behind
 * `createRefreshDeduper` (axios-refresh-gate/server), the racing refreshes get one new pair and
 * every request succeeds.
 *
 *   npx tsx examples/demo-server-dedupe.ts --requests 1000 --refresh-latency-ms 50
 */
import { parseArgs } from 'node:util';
import { startAuthServer } from './server/auth-server.js';
import { type StormResult, storm } from './storm.js';

interface Row extends StormResult {
  server: string;
  rotations: number;
  deduped: number;
}

async function run(dedupe: boolean, requests: number, refreshLatencyMs: number): Promise<Row> {
  const server = await startAuthServer({ port: 0, refreshLatencyMs, dedupe });
  try {
    const result = await storm(server, 'naive', requests);
    return {
      ...result,
      server: dedupe ? 'deduping server' : 'plain server',
      rotations: server.stats.refreshSuccesses,
      deduped: server.stats.refreshDeduped,
    };
  } finally {
    await server.close();
  }
}

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

  console.log(
    `${requests} concurrent requests with an expired token through a naive refresh interceptor`,
  );
  console.log(`(no gate), refresh takes ${refreshLatencyMs} ms.\n`);
  const rows = [
    await run(false, requests, refreshLatencyMs),
    await run(true, requests, refreshLatencyMs),
  ];
  const lines: Array<[string, (row: Row) => string]> = [
    ['refresh calls received', (row) => String(row.refreshCalls)],
    ['rotations', (row) => String(row.rotations)],
    ['answered with a shared pair', (row) => String(row.deduped)],
    ['requests succeeded', (row) => `${row.succeeded} / ${row.requests}`],
    ['session revoked', (row) => (row.familiesRevoked > 0 ? 'yes (refresh token reuse)' : 'no')],
    ['session usable after', (row) => (row.sessionAlive ? 'yes' : 'no (user logged out)')],
  ];
  const header = ['', ...rows.map((row) => row.server)];
  const body = lines.map(([label, cell]) => [label, ...rows.map(cell)]);
  const widths = header.map((_, i) =>
    Math.max(...[header, ...body].map((row) => (row[i] ?? '').length)),
  );
  const line = (row: string[]) =>
    `| ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of body) console.log(line(row));

  const deduped = rows[1]!;
  // The naive client keeps the newest pair it got, so a 401 that comes back late refreshes with
  // a newer (unused) token: a legitimate rotation, not reuse. What matters: nobody was revoked.
  const ok =
    deduped.succeeded === requests && deduped.familiesRevoked === 0 && deduped.sessionAlive;
  console.log(
    ok
      ? '\nBehind the deduper, refreshes racing with one refresh token got one pair: every request succeeded.'
      : '\nUnexpected: requests failed or the session was revoked behind the deduping server.',
  );
  process.exitCode = ok ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
