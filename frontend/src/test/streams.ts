/** Test helpers: fetch Responses whose bodies arrive in the exact chunks a test chooses. */

const encoder = new TextEncoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function streamOf(chunks: readonly (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(typeof chunk === 'string' ? bytes(chunk) : chunk);
      controller.close();
    },
  });
}

export function sseResponse(chunks: readonly (string | Uint8Array)[]): Response {
  return new Response(streamOf(chunks), {
    status: 200,
    headers: { 'Content-Type': 'text/event-stream; charset=utf-8' },
  });
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

/** A stream the test feeds by hand, to observe the UI between chunks. */
export function manualStream(): {
  response: Response;
  push: (text: string) => void;
  close: () => void;
  fail: (error: Error) => void;
} {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      ctrl = controller;
    },
  });
  return {
    response: new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } }),
    push: (text) => {
      ctrl.enqueue(bytes(text));
    },
    close: () => {
      ctrl.close();
    },
    fail: (error) => {
      ctrl.error(error);
    },
  };
}
