/**
 * Runs the example auth server from the command line:
 *
 *   tsx examples/server/main.ts [--port 4000] [--access-ttl-ms 60000]
 *     [--refresh-latency-ms 0] [--api-latency-ms 0] [--dedupe]
 *
 * `--dedupe` puts POST /auth/refresh behind createRefreshDeduper (axios-refresh-gate/server).
 *
 * Prints the URL and stops cleanly on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startAuthServer } from './auth-server.js';

function toNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'access-ttl-ms': { type: 'string' },
    'refresh-latency-ms': { type: 'string' },
    'api-latency-ms': { type: 'string' },
    dedupe: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(
    'Usage: tsx examples/server/main.ts [--port 4000] [--access-ttl-ms 60000] ' +
      '[--refresh-latency-ms 0] [--api-latency-ms 0] [--dedupe]',
  );
  process.exit(0);
}

const port = toNumber('port', values.port) ?? 4000;
const accessTtlMs = toNumber('access-ttl-ms', values['access-ttl-ms']);
const refreshLatencyMs = toNumber('refresh-latency-ms', values['refresh-latency-ms']);
const apiLatencyMs = toNumber('api-latency-ms', values['api-latency-ms']);

async function main() {
  const server = await startAuthServer({
    port,
    // exactOptionalPropertyTypes: only pass the knobs that were given.
    ...(accessTtlMs === undefined ? {} : { accessTtlMs }),
    ...(refreshLatencyMs === undefined ? {} : { refreshLatencyMs }),
    ...(apiLatencyMs === undefined ? {} : { apiLatencyMs }),
    dedupe: values.dedupe === true,
  });

  console.log(`Auth server listening on ${server.url}`);
  console.log(`  access token TTL: ${server.knobs.accessTtlMs} ms`);
  if (values.dedupe)
    console.log('  refresh route behind the deduper (racing refreshes share one pair)');
  console.log(
    `  try: curl -s -X POST ${server.url}/auth/login -H 'Content-Type: application/json' ` +
      `-d '{"username":"alice","password":"secret"}'`,
  );

  let stopping = false;
  function stop(signal: NodeJS.Signals): void {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal} received, closing.`);
    const { logins, refreshCalls, refreshSuccesses, reuseDetected, apiRequests } = server.stats;
    console.log(
      `  logins=${logins} refreshCalls=${refreshCalls} refreshSuccesses=${refreshSuccesses} ` +
        `reuseDetected=${reuseDetected} apiRequests=${apiRequests}`,
    );
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  }
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
