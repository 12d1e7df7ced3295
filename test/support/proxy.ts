// A TCP proxy on loopback that can go silent without closing anything: while frozen, bytes are held
// back in both directions, as on a half-open connection, and delivered once it is thawed.
import { createServer, connect, type Server, type Socket } from 'node:net';

interface Link {
  from: Socket;
  to: Socket;
  held: Buffer[];
}

export class FreezableProxy {
  private readonly server: Server;
  private readonly links = new Set<Link>();
  private frozen = false;
  port = 0;

  private constructor(upstreamHost: string, upstreamPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(upstreamPort, upstreamHost);
      this.forward(client, upstream);
      this.forward(upstream, client);
    });
  }

  private forward(from: Socket, to: Socket): void {
    const link: Link = { from, to, held: [] };
    this.links.add(link);
    from.on('data', (chunk) => {
      if (this.frozen) link.held.push(chunk);
      else to.write(chunk);
    });
    from.on('error', () => from.destroy());
    from.on('close', () => {
      this.links.delete(link);
      if (!this.frozen) to.destroy();
    });
  }

  static async start(upstream: string): Promise<FreezableProxy> {
    const url = new URL(upstream);
    const proxy = new FreezableProxy(url.hostname, Number(url.port));
    await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', () => r()));
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const link of this.links) {
      for (const chunk of link.held.splice(0)) if (!link.to.destroyed) link.to.write(chunk);
      if (link.from.destroyed) link.to.destroy();
    }
  }

  async stop(): Promise<void> {
    for (const link of this.links) link.from.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
