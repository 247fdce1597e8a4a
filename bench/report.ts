/**
 * Turns the runs into what people read: summaries per client and N, the targets, Markdown tables
 * (printed in the terminal and written to docs/bench/results.md) and a hand-written SVG chart.
 */

import { CLIENT_LABELS, type ClientName } from './clients.js';
import type { HeldResult, InProcessStormResult } from './held.js';
import type { HotPathResult } from './hot-path.js';
import { median } from './shared.js';
import type { StormResult } from './storm.js';

export interface Machine {
  cpus: number;
  model: string;
  node: string;
  platform: string;
  totalMemGb: number;
  openFileLimit: number | null;
  /** os.loadavg() at the end of the run: other work on the machine makes wall times noisy. */
  loadAverage: number[];
}

export interface StormSummary {
  client: ClientName;
  n: number;
  runs: number;
  /** Runs that did not settle within their budget. */
  unsettled: number;
  budgetMs: number;
  /** Median time to settle over the settled runs, ms; null when none settled. */
  ms: number | null;
  /** Median over rounds of (this client's time / the reference's time in the same round). */
  ratio: number | null;
  cpuMs: number;
  /** Worst run: */
  refreshCalls: number;
  staleTokens: number;
  familiesRevoked: number;
  failed: number;
  hung: number;
  errors: Record<string, number>;
  /** null when a run did not settle (the session was not probed). */
  sessionAlive: boolean | null;
  refreshMs?: number;
}

export type InProcessRun = InProcessStormResult & { round: number };

export interface InProcessSummary {
  client: ClientName;
  n: number;
  runs: number;
  /** Median time to settle, ms. */
  ms: number;
  /** Median µs per request beyond the refresh: (time - refresh latency) / N. */
  usPerRequest: number;
  /** Median over rounds of (this client's time / the reference's in the same round). */
  ratio: number | null;
  /** Worst run: */
  failed: number;
  stale: number;
  refreshes: number;
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  /** null: not measured in this run (e.g. a smoke run has no 100k storm); 'tie': missed on the
   *  median, met in at least a quarter of the rounds (within the run-to-run spread). */
  met: boolean | null | 'tie';
}

export interface Results {
  date: string;
  machine: Machine;
  smoke: boolean;
  durationS: number;
  config: {
    stormNs: number[];
    stormRounds: Record<string, number>;
    refreshLatencyMs: number;
    maxSockets: number;
    hotPath: { rounds: number; batch: number };
    memory: { ns: number[]; holdMs: number };
    inProcess: { ns: number[]; rounds: Record<string, number> };
  };
  hotPath: HotPathResult[];
  memory: HeldResult[];
  /** Bare axios requests pending on a loopback server, each on its own socket. */
  bareLoopback: { n: number; bytesPerRequest: number } | null;
  storms: Array<StormResult & { round: number }>;
  /** Storm runs not started because the run's total time budget was used up. */
  skipped: Array<{ client: ClientName; n: number; round: number }>;
  stormSummary: StormSummary[];
  /** The storm against the in-process transport (no sockets, no server). */
  inProcess: InProcessRun[];
  inProcessSummary: InProcessSummary[];
  /** Node's HTTP agent queue: the cost of the shift() that takes the next waiting request. */
  agentQueue?: Array<{ n: number; usPerShift: number }>;
  scaling: Array<{
    client: ClientName;
    /** Storm on loopback, time at 100k / time at 10k. */
    ratio100kTo10k: number | null;
    /** The same storm in process: the client's own work. */
    inProcessRatio100kTo10k: number | null;
    /** The same, without the fixed refresh latency: (time - latency) at 100k over at 10k. */
    inProcessWorkRatio100kTo10k: number | null;
    /** Heap per waiting request at 100k / at 10k. */
    heapRatio100kTo10k: number | null;
  }>;
  targets: Target[];
}

export function summarizeStorms(
  storms: ReadonlyArray<StormResult & { round: number }>,
): StormSummary[] {
  const summaries: StormSummary[] = [];
  const keys = new Map<string, Array<StormResult & { round: number }>>();
  for (const run of storms) {
    const key = `${run.client}|${run.n}`;
    keys.set(key, [...(keys.get(key) ?? []), run]);
  }
  for (const runs of keys.values()) {
    const first = runs[0]!;
    const settled = runs.filter((run) => run.ms !== null);
    const ratios = settled.flatMap((run) => {
      const reference = storms.find(
        (other) => other.client === 'bare' && other.n === run.n && other.round === run.round,
      );
      return reference?.ms ? [run.ms! / reference.ms] : [];
    });
    const worst = (of: (run: StormResult) => number) => Math.max(...runs.map(of));
    const errors: Record<string, number> = {};
    for (const run of runs) {
      for (const [kind, count] of Object.entries(run.errors)) {
        errors[kind] = Math.max(errors[kind] ?? 0, count);
      }
    }
    const refreshes = runs.flatMap((run) => (run.refreshMs === undefined ? [] : [run.refreshMs]));
    summaries.push({
      client: first.client,
      n: first.n,
      runs: runs.length,
      unsettled: runs.length - settled.length,
      budgetMs: first.budgetMs,
      ms: settled.length > 0 ? median(settled.map((run) => run.ms!)) : null,
      ratio: ratios.length > 0 ? median(ratios) : null,
      cpuMs: median(runs.map((run) => run.cpuMs)),
      refreshCalls: worst((run) => run.server.refreshCalls),
      staleTokens: worst((run) => run.server.staleTokenRequests),
      familiesRevoked: worst((run) => run.server.familiesRevoked),
      failed: worst((run) => run.failed),
      hung: worst((run) => run.hung),
      errors,
      sessionAlive: runs.some((run) => run.sessionAlive === null)
        ? null
        : runs.every((run) => run.sessionAlive),
      ...(refreshes.length > 0 ? { refreshMs: median(refreshes) } : {}),
    });
  }
  return summaries;
}

export function summarizeInProcess(
  runs: readonly InProcessRun[],
  refreshLatencyMs: number,
): InProcessSummary[] {
  const groups = new Map<string, InProcessRun[]>();
  for (const run of runs) {
    const key = `${run.client}|${run.n}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!;
    const ratios = group.flatMap((run) => {
      const reference = runs.find(
        (other) => other.client === 'bare' && other.n === run.n && other.round === run.round,
      );
      return reference ? [run.ms / reference.ms] : [];
    });
    return {
      client: first.client,
      n: first.n,
      runs: group.length,
      ms: median(group.map((run) => run.ms)),
      usPerRequest: median(group.map((run) => ((run.ms - refreshLatencyMs) * 1000) / run.n)),
      ratio: ratios.length > 0 ? median(ratios) : null,
      failed: Math.max(...group.map((run) => run.failed)),
      stale: Math.max(...group.map((run) => run.stale)),
      refreshes: Math.max(...group.map((run) => run.refreshes)),
    };
  });
}

// ---- formatting -----------------------------------------------------------------------------

const label = (client: ClientName) => CLIENT_LABELS[client];
const fixed = (value: number, digits: number) => value.toFixed(digits);
const count = (value: number) => value.toLocaleString('en-US');
const kb = (bytes: number | null) => (bytes === null ? 'n/a' : `${(bytes / 1024).toFixed(2)} KB`);
const seconds = (ms: number) =>
  ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;

/** A Markdown table with padded columns, as Biome's formatter writes it (`npm run lint` checks docs/). */
function table(header: string[], rows: string[][]): string {
  const width = (cell: string) => [...cell].length;
  const widths = header.map((_, column) =>
    Math.max(3, ...[header, ...rows].map((row) => width(row[column] ?? ''))),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell + ' '.repeat(widths[column]! - width(cell))).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function stormTime(summary: StormSummary): string {
  if (summary.ms === null) return `did not settle within ${seconds(summary.budgetMs)}`;
  const partly =
    summary.unsettled > 0 ? ` (${summary.unsettled}/${summary.runs} runs did not settle)` : '';
  return `${seconds(summary.ms)}${partly}`;
}

function errorList(errors: Record<string, number>): string {
  const entries = Object.entries(errors);
  if (entries.length === 0) return '';
  return entries.map(([kind, n]) => `${count(n)} × ${kind}`).join(', ');
}

export function machineLine(results: Results): string {
  const { machine } = results;
  return `${machine.cpus} × ${machine.model}, ${machine.totalMemGb.toFixed(0)} GB, node ${machine.node} (${machine.platform}), load average ${machine.loadAverage.map((value) => value.toFixed(1)).join(' / ')}, ${results.date.slice(0, 10)}`;
}

function inProcessSection(results: Results): string[] {
  const { config } = results;
  const localNs = config.inProcess.ns;
  const local = (client: ClientName, n: number) =>
    results.inProcessSummary.find((row) => row.client === client && row.n === n);
  const localClients = [...new Set(results.inProcessSummary.map((row) => row.client))];
  if (localClients.length === 0) return [];
  return [
    `### Storm without sockets: the same N requests against an in-process transport (refresh latency ${config.refreshLatencyMs} ms)`,
    '',
    `An axios adapter stands in for the network: 200 for the current token, 401 otherwise. Left: only the clients' JavaScript and axios'. Time until all N settled, median of interleaved rounds (${localNs.map((n) => `${count(n)}: ${config.inProcess.rounds[n]}`).join(', ')}), then µs per request beyond the refresh ((time − ${config.refreshLatencyMs} ms) / N); in brackets, the ratio to the reference (the refresh, then bare axios sending N).`,
    '',
    table(
      ['client', ...localNs.map((n) => `N = ${count(n)}`), 'failed, stale (worst)'],
      localClients.map((client) => {
        const rows = localNs.map((n) => local(client, n));
        const failed = Math.max(0, ...rows.map((row) => row?.failed ?? 0));
        const stale = Math.max(0, ...rows.map((row) => row?.stale ?? 0));
        return [
          client === 'bare' ? 'reference: refresh + bare axios' : label(client),
          ...rows.map((row) => {
            if (!row) return '—';
            const ratio =
              client === 'bare' || row.ratio === null ? '' : ` (${fixed(row.ratio, 2)}×)`;
            return `${seconds(row.ms)}, ${fixed(row.usPerRequest, 1)} µs${ratio}`;
          }),
          `${count(failed)}, ${count(stale)}`,
        ];
      }),
    ),
    '',
  ];
}

export function markdown(results: Results): string {
  const { config } = results;
  const clients = [...new Set(results.stormSummary.map((summary) => summary.client))];
  const ns = config.stormNs;
  const storm = (client: ClientName, n: number) =>
    results.stormSummary.find((summary) => summary.client === client && summary.n === n);
  const memory = (client: ClientName, n: number) =>
    results.memory.find((run) => run.client === client && run.n === n);
  const memoryNs = config.memory.ns;
  const memoryClients = [...new Set(results.memory.map((run) => run.client))];
  const out: string[] = [];
  const scalingGap = (client: ClientName) => {
    const big = storm(client, 100_000);
    if (!big) {
      return results.skipped.some((run) => run.client === client && run.n === 100_000)
        ? 'skipped at 100,000 (overall time limit)'
        : 'not run at 100,000';
    }
    if (big.ms === null) return `did not settle at 100,000 within ${seconds(big.budgetMs)}`;
    return 'n/a';
  };

  out.push(
    `Measured on ${machineLine(results)}${results.smoke ? ' — **smoke run: too small to mean anything**' : ''}; the whole run took ${Math.round(results.durationS)} s.`,
    '',
    '### Targets',
    '',
    table(
      ['target', 'goal', 'measured', ''],
      results.targets.map((target) => [
        target.name,
        target.target,
        target.measured,
        target.met === null
          ? 'n/a'
          : target.met === 'tie'
            ? 'tie (within the spread)'
            : target.met
              ? 'met'
              : '**missed**',
      ]),
    ),
    '',
    `### Storm: N concurrent GETs with an expired access token (refresh latency ${config.refreshLatencyMs} ms)`,
    '',
    `Time until all N settled, median of interleaved rounds (${ns.map((n) => `${count(n)}: ${config.stormRounds[n]}`).join(', ')} rounds); in brackets, the median ratio to the reference (one refresh, then bare axios sending N requests with the new token, timed together). Real auth server on loopback in another process; every client uses a keep-alive agent with ${config.maxSockets} sockets.`,
    '',
    table(
      ['client', ...ns.map((n) => `N = ${count(n)}`)],
      clients.map((client) => [
        client === 'bare' ? 'reference: refresh + bare axios' : label(client),
        ...ns.map((n) => {
          const summary = storm(client, n);
          if (!summary) return '—';
          const ratio =
            client === 'bare' || summary.ratio === null ? '' : ` (${fixed(summary.ratio, 2)}×)`;
          return `${stormTime(summary)}${ratio}`;
        }),
      ]),
    ),
    '',
    ...(clients.some((client) => ns.some((n) => !storm(client, n)))
      ? [
          `—: not run. axios-auth-refresh with \`deduplicateRefresh: false\` sends every request twice (once with the expired token) and takes 2-3× the reference at 10,000; at 100,000 it would only use up its time budget.${results.skipped.length > 0 ? ` Skipped because the whole run must end within 10 minutes: ${results.skipped.map((run) => `${label(run.client)} at N = ${count(run.n)} (round ${run.round + 1})`).join(', ')}.` : ''}`,
          '',
        ]
      : []),
    '### Correctness under the same storm (worst run per N)',
    '',
    'Stale tokens: requests that reached the server with the expired token. Failed: requests whose caller saw an error. Hung: not settled within the time budget.',
    '',
    table(
      [
        'client',
        'N',
        'succeeded',
        'failed',
        'stale tokens sent',
        'refresh calls',
        'families revoked',
        'hung',
        'session alive',
      ],
      clients
        .filter((client) => client !== 'bare')
        .flatMap((client) =>
          ns.flatMap((n) => {
            const summary = storm(client, n);
            if (!summary) return [];
            return [
              [
                label(client),
                count(n),
                count(n - summary.failed - summary.hung),
                summary.failed > 0
                  ? `${count(summary.failed)} (${errorList(summary.errors)})`
                  : '0',
                count(summary.staleTokens),
                count(summary.refreshCalls),
                count(summary.familiesRevoked),
                count(summary.hung),
                summary.sessionAlive === null ? '—' : summary.sessionAlive ? 'yes' : 'no',
              ],
            ];
          }),
        ),
    ),
    '',
    ...inProcessSection(results),
    '### Hot path: sequential GETs with a valid token (axios-mock-adapter, CPU bound)',
    '',
    `Median of ${config.hotPath.rounds} interleaved rounds × ${count(config.hotPath.batch)} requests; ratio = median of per-round ratios to bare axios with a static Authorization header. CPU time of the process is the steadier figure on a shared machine.`,
    '',
    table(
      ['client', 'CPU µs/request', 'wall µs/request', 'CPU ratio (quartiles)', 'wall ratio'],
      results.hotPath.map((row) => [
        row.client === 'bare' ? 'bare axios, static header' : label(row.client),
        fixed(row.cpuUs, 1),
        fixed(row.wallUs, 1),
        `${fixed(row.ratioCpu, 3)} (${row.ratioCpuQuartiles.map((value) => fixed(value, 3)).join('–')})`,
        fixed(row.ratioWall, 3),
      ]),
    ),
    '',
    '### Memory per waiting request',
    '',
    `Heap (after gc) with N requests waiting on a refresh held open${config.memory.holdMs > 0 ? ` (≥ ${config.memory.holdMs} ms at N = 10,000)` : ''}, divided by the requests that were really waiting; in-process transport, so only the clients' JavaScript counts. Reference: N bare axios requests pending (never answered until the end).`,
    '',
    table(
      ['client', ...memoryNs.map((n) => `N = ${count(n)}`)],
      memoryClients.map((client) => [
        client === 'bare' ? 'bare axios, pending request' : label(client),
        ...memoryNs.map((n) => {
          const run = memory(client, n);
          if (!run) return '—';
          if (run.held < run.n / 2) {
            return `n/a: ${count(run.failed)} of ${count(run.n)} failed at once, ${count(run.held)} waited`;
          }
          if (run.held < run.n) {
            return `${kb(run.bytesPerWaiting)} (${count(run.n - run.held)} failed at once)`;
          }
          return kb(run.bytesPerWaiting);
        }),
      ]),
    ),
    '',
  );
  if (results.bareLoopback) {
    out.push(
      `For scale: a bare axios request pending on a real loopback socket (its own connection) holds ${kb(results.bareLoopback.bytesPerRequest)} of heap (N = ${count(results.bareLoopback.n)}).`,
      '',
    );
  }
  const heapNote = results.scaling.some((row) => row.heapRatio100kTo10k !== null)
    ? ' Heap: heap per waiting request at 100,000 over the same at 10,000 (flat would be 1; measured for the gate only at 100,000).'
    : '';
  out.push(
    '### Scaling: N = 100,000 over N = 10,000 (linear would be 10)',
    '',
    `Loopback: the storm above, through Node's HTTP agent to the real server. In process: the storm without sockets (above); without the refresh: its time less the ${config.refreshLatencyMs} ms refresh, the clients' own work alone.${heapNote}`,
    '',
    table(
      [
        'client',
        'time on loopback',
        'time in process',
        'in process, without the refresh',
        'heap per waiting request',
      ],
      results.scaling.map((row) => [
        row.client === 'bare' ? 'reference' : label(row.client),
        row.ratio100kTo10k === null ? scalingGap(row.client) : fixed(row.ratio100kTo10k, 2),
        row.inProcessRatio100kTo10k === null ? '—' : fixed(row.inProcessRatio100kTo10k, 2),
        row.inProcessWorkRatio100kTo10k === null ? '—' : fixed(row.inProcessWorkRatio100kTo10k, 2),
        row.heapRatio100kTo10k === null ? '—' : fixed(row.heapRatio100kTo10k, 2),
      ]),
    ),
    '',
  );
  const queue = results.agentQueue ?? [];
  const small = queue.find((row) => row.n === 10_000);
  const big = queue.find((row) => row.n === 100_000);
  const referenceScaling = results.scaling.find((row) => row.client === 'bare');
  const localReference = referenceScaling?.inProcessRatio100kTo10k;
  const referenceWire = referenceScaling?.ratio100kTo10k;
  if (small && big) {
    out.push(
      `On loopback the reference itself scales at ${referenceWire == null ? 'n/a' : fixed(referenceWire, 2)}. Node's HTTP agent keeps the requests that wait for one of its ${config.maxSockets} sockets in an array and takes the next one with \`Array.prototype.shift()\`, which gets slower as the array grows: ${fixed(small.usPerShift, 2)} µs per shift with ${count(small.n)} entries, ${fixed(big.usPerShift, 2)} µs with ${count(big.n)} (measured in this run). A CPU profile of the reference at 100,000 (\`--cpu-prof\`, taken while writing this bench, not in this run) put about 30% of the client's CPU in the agent's \`free\` handler, which does that shift; \`npm run bench:agent-queue\` runs the reference again with that queue swapped for a constant-time one.${localReference == null ? '' : ` Without sockets the reference's ratio is ${fixed(localReference, 2)}.`}`,
      '',
    );
  }
  return out.join('\n');
}

// ---- chart ----------------------------------------------------------------------------------

const COLORS: Record<ClientName, string> = {
  bare: '#6b7280',
  gate: '#2563eb',
  'axios-auth-refresh': '#ea580c',
  'axios-auth-refresh*': '#b45309',
  'axios-jwt': '#16a34a',
};

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Series {
  client: ClientName;
  points: Array<{ n: number; value: number; open?: boolean }>;
}

interface Panel {
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
  yLabel: string;
  ns: number[];
  yLog: boolean;
  series: Series[];
  yFormat(value: number): string;
}

function panel(spec: Panel): string {
  const { x, y, width, height, ns } = spec;
  const values = spec.series.flatMap((series) => series.points.map((point) => point.value));
  if (values.length === 0 || ns.length === 0) return '';
  const xMin = Math.log10(Math.min(...ns));
  const xMax = Math.log10(Math.max(...ns));
  const px = (n: number) =>
    x + (xMax === xMin ? width / 2 : ((Math.log10(n) - xMin) / (xMax - xMin)) * width);
  let yMin: number;
  let yMax: number;
  let ticks: number[];
  if (spec.yLog) {
    yMin = Math.floor(Math.log10(Math.min(...values)));
    yMax = Math.ceil(Math.log10(Math.max(...values)));
    if (yMax === yMin) yMax++;
    ticks = [];
    for (let power = yMin; power <= yMax; power++) ticks.push(10 ** power);
  } else {
    yMin = 0;
    const top = Math.max(...values) * 1.15;
    const step = niceStep(top / 5);
    yMax = Math.ceil(top / step) * step;
    ticks = [];
    for (let tick = 0; tick <= yMax + step / 2; tick += step) ticks.push(tick);
  }
  const py = (value: number) => {
    const v = spec.yLog ? Math.log10(value) : value;
    return y + height - ((v - yMin) / (yMax - yMin)) * height;
  };
  const parts: string[] = [];
  parts.push(
    `<text x="${x}" y="${y - 14}" class="title">${xml(spec.title)}</text>`,
    `<rect x="${x}" y="${y}" width="${width}" height="${height}" class="frame"/>`,
  );
  for (const tick of ticks) {
    const ty = py(tick).toFixed(1);
    parts.push(
      `<line x1="${x}" x2="${x + width}" y1="${ty}" y2="${ty}" class="grid"/>`,
      `<text x="${x - 6}" y="${ty}" class="ytick">${xml(spec.yFormat(tick))}</text>`,
    );
  }
  for (const n of ns) {
    const tx = px(n).toFixed(1);
    parts.push(
      `<line x1="${tx}" x2="${tx}" y1="${y}" y2="${y + height}" class="grid"/>`,
      `<text x="${tx}" y="${y + height + 16}" class="xtick">${n >= 1000 ? `${n / 1000}k` : n}</text>`,
    );
  }
  parts.push(
    `<text x="${x + width / 2}" y="${y + height + 34}" class="axis">N (concurrent requests, log scale)</text>`,
    `<text transform="translate(${x - 48} ${y + height / 2}) rotate(-90)" class="axis">${xml(spec.yLabel)}</text>`,
  );
  for (const series of spec.series) {
    const color = COLORS[series.client];
    const dash = series.client === 'bare' || series.client === 'axios-auth-refresh*';
    const path = series.points
      .filter((point) => !point.open)
      .map(
        (point, i) =>
          `${i === 0 ? 'M' : 'L'}${px(point.n).toFixed(1)},${py(point.value).toFixed(1)}`,
      )
      .join(' ');
    if (path) {
      parts.push(
        `<path d="${path}" fill="none" stroke="${color}" stroke-width="${series.client === 'gate' ? 3 : 2}"${dash ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
    }
    for (const point of series.points) {
      const cx = px(point.n).toFixed(1);
      const cy = py(point.value).toFixed(1);
      parts.push(
        point.open
          ? `<circle cx="${cx}" cy="${cy}" r="4" fill="#fff" stroke="${color}" stroke-width="2"><title>${xml(`${CLIENT_LABELS[series.client]}: did not settle within ${spec.yFormat(point.value)}`)}</title></circle>`
          : `<circle cx="${cx}" cy="${cy}" r="3.5" fill="${color}"><title>${xml(`${CLIENT_LABELS[series.client]}, N=${point.n}: ${spec.yFormat(point.value)}`)}</title></circle>`,
      );
    }
  }
  return parts.join('\n');
}

function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 2.5, 5, 10]) if (raw <= factor * power) return factor * power;
  return 10 * power;
}

export function chart(results: Results): string {
  const width = 1120;
  const height = 500;
  const stormClients = [...new Set(results.stormSummary.map((summary) => summary.client))];
  const timeSeries: Series[] = stormClients.map((client) => ({
    client,
    points: results.stormSummary
      .filter((summary) => summary.client === client)
      .map((summary) =>
        summary.ms === null
          ? { n: summary.n, value: summary.budgetMs / 1000, open: true }
          : { n: summary.n, value: summary.ms / 1000 },
      ),
  }));
  const memorySeries: Series[] = [...new Set(results.memory.map((run) => run.client))]
    // Requests that fail at once are not waiting: no per-waiting-request figure to draw.
    .filter((client) => results.memory.some((run) => run.client === client && run.held === run.n))
    .map((client) => ({
      client,
      points: results.memory
        .filter((run) => run.client === client && run.bytesPerWaiting !== null)
        .map((run) => ({ n: run.n, value: run.bytesPerWaiting! / 1024 })),
    }));
  const legendClients = stormClients;
  const legend = legendClients
    .map((client, i) => {
      const lx = 80 + (i % 2) * 470;
      const ly = 412 + Math.floor(i / 2) * 18;
      const dash = client === 'bare' || client === 'axios-auth-refresh*';
      const name =
        client === 'bare'
          ? 'reference (refresh + bare axios) / bare pending request'
          : client === 'axios-auth-refresh'
            ? `${CLIENT_LABELS[client]} (its requests fail with 401: time to fail)`
            : CLIENT_LABELS[client];
      return `<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${COLORS[client]}" stroke-width="${client === 'gate' ? 3 : 2}"${dash ? ' stroke-dasharray="6 4"' : ''}/><text x="${lx + 28}" y="${ly}" class="legend">${xml(name)}</text>`;
    })
    .join('\n');
  const localSeries: Series[] = [...new Set(results.inProcessSummary.map((row) => row.client))].map(
    (client) => ({
      client,
      points: results.inProcessSummary
        .filter((row) => row.client === client)
        .map((row) => ({ n: row.n, value: row.usPerRequest })),
    }),
  );
  const body = [
    panel({
      x: 80,
      y: 50,
      width: 260,
      height: 290,
      title: 'Storm on loopback: time to settle',
      yLabel: 'seconds (log scale)',
      ns: results.config.stormNs,
      yLog: true,
      series: timeSeries,
      yFormat: (value) =>
        value >= 1 ? `${+value.toFixed(1)} s` : `${Math.round(value * 1000)} ms`,
    }),
    panel({
      x: 450,
      y: 50,
      width: 260,
      height: 290,
      title: 'Storm in process: µs per request',
      yLabel: 'µs per request beyond the refresh',
      ns: results.config.inProcess.ns,
      yLog: false,
      series: localSeries,
      yFormat: (value) => `${+value.toFixed(0)} µs`,
    }),
    panel({
      x: 820,
      y: 50,
      width: 260,
      height: 290,
      title: 'Heap per waiting request',
      yLabel: 'KB (after gc)',
      ns: results.config.memory.ns,
      yLog: false,
      series: memorySeries,
      yFormat: (value) => `${+value.toFixed(2)} KB`,
    }),
  ].join('\n');
  const unsettledNote = timeSeries.some((series) => series.points.some((point) => point.open))
    ? ' Open circle: did not settle within the time budget (drawn at the budget).'
    : '';
  const waitingNote = results.memory.some((run) => run.held < run.n)
    ? ' axios-auth-refresh with defaults is missing on the right: its requests fail instead of waiting.'
    : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<title>${xml(`Storm time and heap per waiting request versus N: axios-refresh-gate, axios-auth-refresh, axios-jwt and bare axios (${machineLine(results)})`)}</title>
<style>
.title { font-size: 14px; font-weight: 600; fill: #111827; }
.frame { fill: #fff; stroke: #9ca3af; }
.grid { stroke: #e5e7eb; }
.ytick { font-size: 11px; fill: #374151; text-anchor: end; dominant-baseline: middle; }
.xtick { font-size: 11px; fill: #374151; text-anchor: middle; }
.axis { font-size: 12px; fill: #374151; text-anchor: middle; }
.legend { font-size: 12px; fill: #111827; }
.note { font-size: 11px; fill: #6b7280; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
${body}
${legend}
<text x="80" y="${height - 24}" class="note">${xml(`${machineLine(results)}.`)}</text>
<text x="80" y="${height - 8}" class="note">${xml(`${unsettledNote}${waitingNote}`.trim())}</text>
</svg>
`;
}
