// The V8 heap of another Node process, measured exactly through its inspector: the process runs with
// `--inspect=127.0.0.1:0` (OperatorProcess.start({ nodeArgs }) and its `inspectorUrl`), we connect
// over the Chrome DevTools Protocol with Node's global WebSocket, force full garbage collections and
// read the heap in use. Unlike RSS or process.memoryUsage() sampled from outside, nothing that is
// merely garbage is counted.

export interface HeapUsage {
  /** Bytes of the V8 heap in use (every space), after the collections. */
  usedSize: number;
  /** Bytes the V8 heap has reserved. */
  totalSize: number;
  /** Bytes of ArrayBuffer backing stores (Buffers live outside the V8 heap), when V8 reports it. */
  backingStorageSize?: number;
}

type CdpReply = { id: number; result?: unknown; error?: { message: string } };

/** One CDP session to a process's inspector. */
export class InspectorSession {
  private readonly ws: WebSocket;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (event) => {
      const reply = JSON.parse(String(event.data)) as Partial<CdpReply>;
      if (typeof reply.id !== 'number') return; // a protocol event, not an answer
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.error) waiter.reject(new Error(`inspector: ${reply.error.message}`));
      else waiter.resolve(reply.result);
    });
    ws.addEventListener('close', () => {
      for (const w of this.pending.values()) w.reject(new Error('inspector connection closed'));
      this.pending.clear();
    });
  }

  static connect(wsUrl: string, timeoutMs = 10_000): Promise<InspectorSession> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`inspector at ${wsUrl}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.addEventListener('open', () => {
        clearTimeout(timer);
        resolve(new InspectorSession(ws));
      });
      ws.addEventListener('error', () => {
        clearTimeout(timer);
        reject(new Error(`inspector at ${wsUrl}: connection failed`));
      });
    });
  }

  send<T>(method: string, params: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`inspector: ${method} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Two full collections (the second takes what finalizers of the first let go), then the heap in use. */
  async heapAfterGc(): Promise<HeapUsage> {
    await this.send('HeapProfiler.collectGarbage');
    await this.send('HeapProfiler.collectGarbage');
    return this.send<HeapUsage>('Runtime.getHeapUsage');
  }

  close(): void {
    this.ws.close();
  }
}

/** The heap of the process behind `wsUrl` after two forced full collections. */
export async function heapAfterGc(wsUrl: string): Promise<HeapUsage> {
  const session = await InspectorSession.connect(wsUrl);
  try {
    return await session.heapAfterGc();
  } finally {
    session.close();
  }
}

/** Bytes of V8 heap in use in the process behind `wsUrl` after two forced full collections. */
export async function heapUsedAfterGc(wsUrl: string): Promise<number> {
  return (await heapAfterGc(wsUrl)).usedSize;
}

export const MiB = 1024 * 1024;
