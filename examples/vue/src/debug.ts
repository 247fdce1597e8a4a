import type { GateEvent, RefreshGate } from 'axios-refresh-gate';

declare global {
  interface Window {
    /** Every gate event in order, for devtools and the browser tests. */
    __gateEvents?: { event: GateEvent; reason?: string }[];
  }
}

const EVENTS: GateEvent[] = [
  'refresh:start',
  'refresh:success',
  'refresh:failure',
  'request:queued',
  'tokens:changed',
];

/** Logs the gate's events on `window.__gateEvents`; returns the function that stops it. */
export function exposeGateEvents(gate: RefreshGate): () => void {
  const log: NonNullable<Window['__gateEvents']> = [];
  window.__gateEvents = log;
  const offs = EVENTS.map((event) =>
    gate.on(event, (payload) => {
      const reason = (payload as { reason?: unknown } | null)?.reason;
      log.push(typeof reason === 'string' ? { event, reason } : { event });
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}
