import { type IncomingMessage, type ServerResponse } from 'node:http';
import { type SimulatorConfig, SimulatorConfigError } from './config';
import { readBody } from './exchange';
import { simulatorHeaders } from './headers';
import { type SimulatorStats } from './stats';

/** What the control endpoints may do to the simulator they belong to. */
export interface Controllable {
  readonly name: string;
  stats(): SimulatorStats;
  config(): SimulatorConfig;
  configure(patch: Partial<SimulatorConfig>): void;
  reset(): void;
}

function reply(res: ServerResponse, name: string, status: number, payload: unknown): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    ...simulatorHeaders(name),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function badRequest(message: string, param: string | null): unknown {
  return { error: { message, type: 'invalid_request_error', param, code: null } };
}

/**
 * `GET /health`, `GET /_sim/stats`, `POST /_sim/config` (JSON patch of SimulatorConfig),
 * `POST /_sim/reset`. Not counted in the stats and never subject to injected faults.
 */
export function handleControl(sim: Controllable, req: IncomingMessage, res: ServerResponse, path: string): void {
  readBody(req, (raw) => {
    const route = `${req.method ?? ''} ${path}`;
    switch (route) {
      case 'GET /health':
        reply(res, sim.name, 200, { status: 'ok', simulator: true, name: sim.name });
        return;
      case 'GET /_sim/stats':
        reply(res, sim.name, 200, { ...sim.stats(), config: sim.config() });
        return;
      case 'POST /_sim/reset':
        sim.reset();
        reply(res, sim.name, 200, { ok: true });
        return;
      case 'POST /_sim/config':
        configure(sim, res, raw);
        return;
      default:
        reply(res, sim.name, 404, badRequest(`Unknown simulator control route ${route}`, null));
    }
  });
}

function configure(sim: Controllable, res: ServerResponse, raw: string | null): void {
  let patch: unknown;
  try {
    patch = JSON.parse(raw ?? '');
  } catch {
    reply(res, sim.name, 400, badRequest('The body must be a JSON object of simulator settings.', null));
    return;
  }
  try {
    sim.configure(patch as Partial<SimulatorConfig>);
  } catch (err) {
    if (err instanceof SimulatorConfigError) {
      reply(res, sim.name, 400, badRequest(err.message, err.field));
      return;
    }
    // Thrown from an event callback nothing would catch it; answer instead of crashing the process.
    reply(res, sim.name, 500, badRequest(err instanceof Error ? err.message : 'configure failed', null));
    return;
  }
  reply(res, sim.name, 200, { config: sim.config() });
}
