/**
 * The example auth server in a process of its own, driven over IPC by bench/auth-process.ts, so
 * that the bench process holds only the client side: the server's CPU runs on the other core and
 * its heap does not count against the clients'.
 *
 * Messages in: `{ id, op: 'stats' | 'reset' | 'knobs' | 'close', knobs? }`; each is answered with
 * `{ id, stats? }`. Out at start: `{ id: 0, url }`.
 */
import { type AuthServerKnobs, startAuthServer } from '../examples/server/auth-server.js';

interface Message {
  id: number;
  op: 'stats' | 'reset' | 'knobs' | 'close';
  knobs?: Partial<AuthServerKnobs>;
}

async function main(): Promise<void> {
  const server = await startAuthServer({ port: 0 });
  const send = (reply: object) => process.send?.(reply);
  const snapshot = () => {
    const { refreshLog: _log, ...stats } = server.stats;
    return stats;
  };
  process.on('message', (message: Message) => {
    switch (message.op) {
      case 'stats':
        send({ id: message.id, stats: snapshot() });
        break;
      case 'reset':
        server.resetStats();
        send({ id: message.id, stats: snapshot() });
        break;
      case 'knobs':
        Object.assign(server.knobs, message.knobs);
        send({ id: message.id });
        break;
      case 'close':
        server.close().then(() => {
          send({ id: message.id });
          process.disconnect();
        });
        break;
    }
  });
  // The parent went away without saying 'close': do not outlive it.
  process.on('disconnect', () => {
    server.close().catch(() => {});
  });
  send({ id: 0, url: server.url });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
