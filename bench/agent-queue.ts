/**
 * Why the loopback storm grows faster than N: Node's HTTP agent queue. Runs the reference (one
 * refresh, then bare axios sending N requests to the real auth server) at two sizes, with Node's
 * agent as it is and with its queue of waiting requests swapped for a constant-time one, and
 * prints the times and the 100k / 10k ratios.
 *
 *   npm run bench:agent-queue                 # N = 10,000 and 100,000 (about two minutes)
 *   npm run bench:agent-queue -- --small 1000 --large 10000
 *
 * The agent keeps the requests that wait for a socket in an array per host and takes the next
 * one with `shift()`; in V8 that gets slower as the array grows. The swap is an experiment to
 * confirm it, not something the library or the bench does.
 */
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { startAuthProcess } from './auth-process.js';
import { positiveInteger } from './shared.js';
import { runStorm } from './storm.js';

/** What Node 20's agent does with its queue of waiting requests (push, shift, length, [0]), with
 *  an O(1) shift. */
class Queue<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The agent peeks at the head (`requests[name][0]`) when it replaces a closed socket. */
  get 0(): T | undefined {
    return this.items[this.head];
  }

  push(item: T): number {
    this.items.push(item);
    return this.length;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Compact now and then, so that the array does not keep every request ever queued.
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

type Internals = { requests: Record<string, unknown>; addRequest(...args: unknown[]): void };

/** From now on, every agent's per-host queue of waiting requests is a `Queue`. */
function swapAgentQueues(): () => void {
  const prototype = Agent.prototype as unknown as Internals;
  const original = prototype.addRequest;
  const swapped = new WeakSet<object>();
  prototype.addRequest = function (this: Internals, ...args: unknown[]) {
    if (!swapped.has(this)) {
      swapped.add(this);
      // The agent creates a host's queue as `this.requests[name] = []`: hand it a Queue instead.
      this.requests = new Proxy(this.requests, {
        set(target, key, value) {
          target[key as string] = Array.isArray(value) && value.length === 0 ? new Queue() : value;
          return true;
        },
      });
    }
    original.apply(this, args);
  };
  return () => {
    prototype.addRequest = original;
  };
}

async function reference(n: number): Promise<number> {
  const server = await startAuthProcess({ refreshLatencyMs: 100 });
  try {
    const run = await runStorm(server, 'bare', n, 300_000, () => server.close());
    if (run.ms === null || run.failed > 0) {
      throw new Error(`reference at N = ${n}: ${run.failed} failed, ${run.hung} hung`);
    }
    return run.ms;
  } finally {
    await server.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { small: { type: 'string' }, large: { type: 'string' } },
  });
  const small = positiveInteger('small', values.small, 10_000);
  const large = positiveInteger('large', values.large, 100_000);
  // Warm-up, so that the first measured run does not also pay for compiling.
  await reference(Math.min(small, 1_000));
  // Alternated, so that drift over the run (JIT, heap growth, the machine) hits both alike.
  const asIs: number[] = [];
  const swapped: number[] = [];
  for (const n of [small, large]) {
    asIs.push(await reference(n));
    const restore = swapAgentQueues();
    try {
      swapped.push(await reference(n));
    } finally {
      restore();
    }
  }
  const rows: Array<[string, number, number]> = [
    ["Node's agent as it is", asIs[0]!, asIs[1]!],
    ['agent queue with an O(1) shift', swapped[0]!, swapped[1]!],
  ];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  console.log(line(['reference storm', `N = ${small}`, `N = ${large}`, 'ratio']));
  console.log(line(['---', '---', '---', '---']));
  for (const [name, a, b] of rows) {
    console.log(line([name, `${Math.round(a)} ms`, `${Math.round(b)} ms`, (b / a).toFixed(2)]));
  }
}

main().then(
  () => process.exit(),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
