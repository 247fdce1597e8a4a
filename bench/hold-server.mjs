// A loopback HTTP server that answers no request until told to, for bench/quick.ts. It runs in
// its own process (forked, with an IPC channel) so that the bench process holds only the client
// half of the sockets: 10,000 held requests are 20,000 descriptors in one process otherwise.
//
// Messages in: 'count' (reply { type: 'count', count }), 'release' (answer every held request,
// reply { type: 'released', count }), 'close'. Out at start: { type: 'listening', port }.
import { createServer } from 'node:http';

const held = [];
const server = createServer((_request, response) => {
  held.push(response);
});

process.on('message', (message) => {
  if (message === 'count') {
    process.send({ type: 'count', count: held.length });
  } else if (message === 'release') {
    const count = held.length;
    for (const response of held.splice(0)) response.end('ok');
    process.send({ type: 'released', count });
  } else if (message === 'close') {
    server.closeAllConnections();
    server.close(() => process.disconnect());
  }
});
// The parent went away without saying 'close': do not outlive it.
process.on('disconnect', () => {
  server.closeAllConnections();
  server.close();
});

server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const address = server.address();
  process.send({ type: 'listening', port: address.port });
});
