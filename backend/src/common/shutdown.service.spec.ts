import { ShutdownService } from './shutdown.service';

describe('ShutdownService', () => {
  it('is not draining until drain() and resolves at once with nothing in flight', async () => {
    const service = new ShutdownService();
    expect(service.draining).toBe(false);
    await expect(service.drain(1000)).resolves.toEqual({ completed: 0, aborted: 0 });
    expect(service.draining).toBe(true);
  });

  it('waits for in-flight streams to finish within the grace period', async () => {
    const service = new ShutdownService();
    const abort = jest.fn();
    const done = service.track({ abort });
    expect(service.inFlight).toBe(1);
    const drained = service.drain(5000);
    setTimeout(done, 50);
    await expect(drained).resolves.toEqual({ completed: 1, aborted: 0 });
    expect(abort).not.toHaveBeenCalled();
    expect(service.inFlight).toBe(0);
  });

  it('aborts streams still open when the grace period runs out', async () => {
    const service = new ShutdownService();
    const finished = service.track({ abort: jest.fn() });
    setTimeout(finished, 20);
    let endSlow: () => void = () => undefined;
    const slow = {
      abort: jest.fn((reason: string) => {
        expect(reason).toMatch(/shutting down/);
        endSlow();
      }),
    };
    endSlow = service.track(slow);
    const started = Date.now();
    await expect(service.drain(200)).resolves.toEqual({ completed: 1, aborted: 1 });
    expect(slow.abort).toHaveBeenCalledTimes(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });
});
