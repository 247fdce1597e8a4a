import type { GateEvent, GateEventMap, RefreshGate } from 'axios-refresh-gate';

declare global {
  interface Window {
    /** Every gate event in order, for devtools and the browser tests. */
    __gateEvents?: { event: GateEvent; reason?: string }[];
    /** How many times `gate.state` changed (as `gate.subscribe` tells it). */
    __stateChanges?: number;
    /** Renders per component, counted by {@link countRender}. */
    __renders?: Record<string, number>;
  }
}

// A record, not an array, so that the compiler says so when GateEventMap gains an event.
const EVENT_NAMES: Record<GateEvent, true> = {
  'refresh:start': true,
  'refresh:success': true,
  'refresh:failure': true,
  'refresh:retry': true,
  'request:queued': true,
  'request:replayed': true,
  'tokens:changed': true,
};
/** Every event name of `GateEventMap`. */
const GATE_EVENTS = Object.keys(EVENT_NAMES) as GateEvent[];

/**
 * Logs the gate's events on `window.__gateEvents` and counts its state changes on
 * `window.__stateChanges`; returns the function that stops it.
 */
export function exposeGateEvents(gate: RefreshGate): () => void {
  const log: NonNullable<Window['__gateEvents']> = [];
  window.__gateEvents = log;
  window.__stateChanges = 0;
  const offs = GATE_EVENTS.map((event) =>
    gate.on(event, (payload) => {
      const reason = (payload as { reason?: unknown } | null)?.reason;
      log.push(typeof reason === 'string' ? { event, reason } : { event });
    }),
  );
  offs.push(
    gate.subscribe(() => {
      window.__stateChanges = (window.__stateChanges ?? 0) + 1;
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}

/** The `localStorage` key that turns {@link logGateEvents} on, like `?debug=gate` in the URL. */
const DEBUG_STORAGE_KEY = 'axios-refresh-gate:debug';

/** Whether the page asked for the gate's log: `?debug=gate`, or `localStorage[DEBUG_STORAGE_KEY]`. */
export function gateLogRequested(): boolean {
  if (new URLSearchParams(window.location.search).get('debug') === 'gate') return true;
  try {
    return window.localStorage.getItem(DEBUG_STORAGE_KEY) === '1';
  } catch {
    return false; // storage disabled
  }
}

/**
 * What a line says about an event: no tokens and no headers, which carry them; a request by its
 * method and URL.
 */
function describe<E extends GateEvent>(event: E, payload: GateEventMap[E]): string {
  if (event === 'tokens:changed') return payload ? 'new tokens' : 'signed out';
  const { config, error, ...rest } = payload as {
    config?: { method?: string; url?: string };
    error?: unknown;
  } & Record<string, unknown>;
  const parts = Object.entries(rest).map(([key, value]) => `${key}=${String(value)}`);
  if (config) parts.unshift(`${config.method?.toUpperCase() ?? 'GET'} ${config.url ?? ''}`);
  if (error !== undefined) {
    const { name, code } = error as { name?: unknown; code?: unknown };
    parts.push(`error=${String(name)}${code === undefined ? '' : `(${String(code)})`}`);
  }
  return parts.join(' ');
}

/**
 * Prints every gate event and every state change with its timing: milliseconds since the
 * previous line and since logging started, from `performance.now()`. Returns the function that
 * stops it. The example turns it on with `?debug=gate` or `localStorage['axios-refresh-gate:debug']
 * = '1'` (see {@link gateLogRequested}).
 *
 * @example
 * ```ts
 * const stop = logGateEvents(gate);
 * // [gate] +0.0 ms (at 1520.4 ms) request:queued GET /api/stats reason=unauthorized
 * // [gate] +0.3 ms (at 1520.7 ms) refresh:start reason=unauthorized
 * // [gate] +0.1 ms (at 1520.8 ms) state refreshing waiting=1
 * ```
 */
export function logGateEvents(
  gate: RefreshGate,
  print: (line: string) => void = (line) => console.debug(line),
): () => void {
  const start = performance.now();
  let last = start;
  const line = (text: string) => {
    const now = performance.now();
    print(`[gate] +${(now - last).toFixed(1)} ms (at ${(now - start).toFixed(1)} ms) ${text}`);
    last = now;
  };
  const offs = GATE_EVENTS.map((event) =>
    gate.on(event, (payload) => line(`${event} ${describe(event, payload)}`.trimEnd())),
  );
  offs.push(
    gate.subscribe(() => {
      const { status, waiting, refreshes, failures } = gate.state;
      line(`state ${status} waiting=${waiting} refreshes=${refreshes} failures=${failures}`);
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}

/** Counts a render of `component` on `window.__renders` (a render loop would show here). */
export function countRender(component: string): void {
  window.__renders ??= {};
  const renders = window.__renders;
  renders[component] = (renders[component] ?? 0) + 1;
}
