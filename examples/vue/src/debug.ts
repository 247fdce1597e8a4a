import type { GateEvent, RefreshGate } from 'axios-refresh-gate';

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

const EVENTS: GateEvent[] = [
  'refresh:start',
  'refresh:success',
  'refresh:failure',
  'request:queued',
  'tokens:changed',
];

/**
 * Logs the gate's events on `window.__gateEvents` and counts its state changes on
 * `window.__stateChanges`; returns the function that stops it.
 */
export function exposeGateEvents(gate: RefreshGate): () => void {
  const log: NonNullable<Window['__gateEvents']> = [];
  window.__gateEvents = log;
  window.__stateChanges = 0;
  const offs = EVENTS.map((event) =>
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

/** Counts a render of `component` on `window.__renders` (a render loop would show here). */
export function countRender(component: string): void {
  window.__renders ??= {};
  const renders = window.__renders;
  renders[component] = (renders[component] ?? 0) + 1;
}
