// A TCP relay that records whether each connection opened with a TLS handshake. A plain script
// (no TypeScript) so that it can run as its own process, e.g. inside a test host's network
// namespace under `ip netns exec` (test/support/netns.ts); test/client/transport.test.ts drives it.
//
//   node sniff-relay.mjs LISTEN_IP LISTEN_PORT TARGET_IP TARGET_PORT
//
// Prints `listening PORT` once it listens (LISTEN_PORT 0: any free port). Per connection it notes
// `tls` when the first byte is a TLS handshake record (0x16), `plain` otherwise; each line
// `connections` on stdin gets `connections JSON` back with the list so far, in order. It exits
// when stdin ends (so it does not outlive the test process) or on a signal.
import { connect, createServer } from 'node:net';
import { createInterface } from 'node:readline';

const [listenIp, listenPort, targetIp, targetPort] = process.argv.slice(2);
if (targetPort === undefined) {
  process.stderr.write('usage: sniff-relay.mjs LISTEN_IP LISTEN_PORT TARGET_IP TARGET_PORT\n');
  process.exit(2);
}

/** @type {('tls' | 'plain')[]} */
const connections = [];
const server = createServer((client) => {
  client.on('error', () => client.destroy());
  client.once('data', (first) => {
    connections.push(first[0] === 0x16 ? 'tls' : 'plain');
    client.pause();
    const up = connect(Number(targetPort), targetIp, () => {
      up.write(first);
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
    up.on('close', () => client.destroy());
    client.on('close', () => up.destroy());
  });
});
server.on('error', (e) => {
  process.stderr.write(`sniff-relay: ${e.message}\n`);
  process.exit(1);
});
server.listen(Number(listenPort), listenIp, () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : '?'}\n`);
});

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim() === 'connections') process.stdout.write(`connections ${JSON.stringify(connections)}\n`);
});
input.on('close', () => process.exit(0));
