/**
 * The shared Coordinator contract suite, run against broadcastCoordinator in real Chromium: the
 * two members of each scope live in two tabs of one origin (real Web Locks, real BroadcastChannel).
 * Each member is driven from Node through a small bridge in its page: `runExclusive` in the page
 * calls back into Node to run the suite's `fn`, and errors and abort reasons are mapped back to the
 * suite's own objects so that its identity checks hold.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { buildTestPage, type PageServer, servePage } from '../../examples/browser/serve.js';
import type { Coordinator, Tokens } from '../../src/index.js';
import { type Chromium, launchChromium, type Tab } from '../helpers/chromium.js';
import { coordinatorContract } from '../helpers/coordinator-contract.js';

// Every call is a round trip to a real browser tab.
jest.setTimeout(60_000);

/** What `bridge.run` in the page reports. */
type RunOutcome =
  | { kind: 'value'; value: unknown }
  | { kind: 'fnError' }
  | { kind: 'aborted' }
  | { kind: 'error'; name: string; message: string };

interface Bridge {
  make(id: number, name: string): void;
  run(id: number, call: number, timeoutMs: number, aborted: boolean): Promise<RunOutcome>;
  abort(call: number): void;
  subscribe(id: number, subscription: number): void;
  unsubscribe(subscription: number): void;
  publish(id: number, tokens: Tokens | null): void;
  dispose(id: number): void;
  warnings: string[];
}

declare global {
  interface Window {
    bridge?: Bridge;
    bridgeEnter?(call: number): Promise<{ ok: true; value: unknown } | { ok: false }>;
    bridgeHeard?(subscription: number, tokens: Tokens | null): Promise<void>;
  }
}

/** Runs in the page (serialized by playwright): keeps coordinators, calls and subscriptions by id. */
function installBridge(): void {
  const coordinators = new Map<number, Coordinator>();
  const controllers = new Map<number, AbortController>();
  const subscriptions = new Map<number, () => void>();
  const fnFailed = { fnFailed: true };
  const warnings: string[] = [];
  window.bridge = {
    warnings,
    make(id, name) {
      coordinators.set(
        id,
        window.lib!.broadcastCoordinator({
          name,
          logger: { warn: (m) => warnings.push(String(m)) },
        }),
      );
    },
    async run(id, call, timeoutMs, aborted) {
      const controller = new AbortController();
      controllers.set(call, controller);
      if (aborted) controller.abort(new Error('aborted before the call'));
      try {
        const value = await coordinators.get(id)!.runExclusive(
          async () => {
            const outcome = await window.bridgeEnter!(call);
            if (outcome.ok) return outcome.value;
            throw fnFailed;
          },
          { signal: controller.signal, timeoutMs },
        );
        return { kind: 'value', value };
      } catch (error) {
        if (error === fnFailed) return { kind: 'fnError' };
        if (controller.signal.aborted && error === controller.signal.reason)
          return { kind: 'aborted' };
        const { name, message } = error as Error;
        return { kind: 'error', name: String(name), message: String(message) };
      } finally {
        controllers.delete(call);
      }
    },
    abort(call) {
      controllers.get(call)?.abort(new Error('aborted by the test'));
    },
    subscribe(id, subscription) {
      subscriptions.set(
        subscription,
        coordinators.get(id)!.subscribe!(
          (tokens) => void window.bridgeHeard!(subscription, tokens),
        ),
      );
    },
    unsubscribe(subscription) {
      subscriptions.get(subscription)?.();
      subscriptions.delete(subscription);
    },
    publish(id, tokens) {
      coordinators.get(id)!.publish!(tokens);
    },
    dispose(id) {
      coordinators.get(id)?.dispose?.();
      coordinators.delete(id);
    },
  };
}

let dir: string;
let pageServer: PageServer;
let browser: Chromium;
let tabs: Tab[];

/** The suite's `fn` of each call, and the error it failed with, by call id. */
const fns = new Map<number, () => Promise<unknown>>();
const fnErrors = new Map<number, unknown>();
const heardBy = new Map<number, (tokens: Tokens | null) => void>();
let ids = 0;
/** Page operations started by synchronous methods (publish, dispose, aborts), run in order. */
let queue: Promise<unknown> = Promise.resolve();
const inOrder = (operation: () => Promise<unknown>) => {
  queue = queue.then(operation, operation);
  return queue;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'axios-refresh-gate-contract-'));
  await buildTestPage(dir);
  pageServer = await servePage(dir);
  browser = await launchChromium();
  tabs = [];
  for (let i = 0; i < 2; i++) {
    const tab = await browser.open(`${pageServer.url}/?api=http://127.0.0.1:9&name=unused`);
    await tab.page.exposeFunction('bridgeEnter', async (call: number) => {
      const fn = fns.get(call)!;
      fns.delete(call);
      try {
        return { ok: true, value: await fn() };
      } catch (error) {
        fnErrors.set(call, error);
        return { ok: false };
      }
    });
    await tab.page.exposeFunction('bridgeHeard', (subscription: number, tokens: Tokens | null) => {
      heardBy.get(subscription)?.(tokens);
    });
    await tab.page.evaluate(installBridge);
    tabs.push(tab);
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await pageServer?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A Coordinator whose calls run `broadcastCoordinator({ name })` in `page`. */
function remote(page: Page, name: string): Coordinator {
  const id = ++ids;
  const made = inOrder(() =>
    page.evaluate(([id, name]) => window.bridge!.make(id, name), [id, name] as const),
  );
  return {
    async runExclusive<T>(
      fn: () => Promise<T>,
      { signal, timeoutMs }: { signal: AbortSignal; timeoutMs: number },
    ) {
      await made;
      const call = ++ids;
      fns.set(call, fn);
      const onAbort = () =>
        void inOrder(() => page.evaluate((call) => window.bridge!.abort(call), call));
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const outcome = await page.evaluate(
          ([id, call, timeoutMs, aborted]) => window.bridge!.run(id, call, timeoutMs, aborted),
          [id, call, timeoutMs, signal.aborted] as const,
        );
        switch (outcome.kind) {
          case 'value':
            return outcome.value as T;
          case 'fnError':
            throw fnErrors.get(call);
          case 'aborted':
            throw signal.reason;
          default:
            throw Object.assign(new Error(outcome.message), { name: outcome.name });
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
        fns.delete(call);
        fnErrors.delete(call);
      }
    },
    publish(tokens) {
      void inOrder(() =>
        page.evaluate(([id, tokens]) => window.bridge!.publish(id, tokens), [id, tokens] as const),
      );
    },
    subscribe(listener) {
      const subscription = ++ids;
      heardBy.set(subscription, listener);
      void inOrder(() =>
        page.evaluate(([id, s]) => window.bridge!.subscribe(id, s), [id, subscription] as const),
      );
      return () => {
        heardBy.delete(subscription);
        void inOrder(() => page.evaluate((s) => window.bridge!.unsubscribe(s), subscription));
      };
    },
    dispose() {
      void inOrder(() => page.evaluate((id) => window.bridge!.dispose(id), id));
    },
  };
}

/** Lets both tabs finish what they were told (the lock manager answers queries in order). */
async function settle(): Promise<void> {
  await queue;
  for (let i = 0; i < 2; i++) {
    for (const tab of tabs) {
      await tab.page.evaluate(() =>
        navigator.locks.query().then(() => new Promise((resolve) => setTimeout(resolve, 0))),
      );
    }
  }
}

let scope = 0;
coordinatorContract(
  'broadcastCoordinator in Chromium, one member per tab',
  () => remote(tabs[0]!.page, `contract-${++scope}`),
  {
    peer: () => remote(tabs[1]!.page, `contract-${scope}`),
    settle,
    shortTimeoutMs: 50,
    async teardown() {
      await settle();
      // Nothing is left holding or waiting for the lock (released once the aborts reach the pages),
      // and the pages never fell back or threw.
      const name = `contract-${scope}`;
      let left: unknown[] = [];
      for (let i = 0; i < 200; i++) {
        const { held = [], pending = [] } = await tabs[0]!.page.evaluate(() =>
          navigator.locks.query(),
        );
        left = [...held, ...pending].filter((lock) => lock.name === name);
        if (left.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(left).toEqual([]);
      for (const tab of tabs) {
        expect(await tab.page.evaluate(() => window.bridge!.warnings)).toEqual([]);
        expect(tab.errors).toEqual([]);
      }
    },
  },
);
