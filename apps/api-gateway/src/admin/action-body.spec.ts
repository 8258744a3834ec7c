import 'reflect-metadata';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RequestMethod } from '@nestjs/common';
import { INTERCEPTORS_METADATA, METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { GatewayError } from '@aigw/core';
import { RawBody } from '../http/raw-body';
import { actionFields, NoBody } from './action-body';

const SRC = join(__dirname, '..');

/** Every `*.controller.ts` of the api-gateway. */
function controllerFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? controllerFiles(path) : entry.name.endsWith('.controller.ts') ? [path] : [];
  });
}

/** What a decorator leaves on a method: the key prefix of a custom parameter decorator, the interceptors. */
class Probe {
  body(@RawBody() _body: unknown): void {}
  @NoBody()
  none(): void {}
}
const RAW_BODY = Object.keys(Reflect.getMetadata(ROUTE_ARGS_METADATA, Probe, 'body') as object)[0].split(':')[0];
const NO_BODY = (Reflect.getMetadata(INTERCEPTORS_METADATA, Probe.prototype.none) as unknown[])[0];

interface Write {
  route: string;
  body: 'declared' | 'none' | 'ignored';
}

const WRITES = [RequestMethod.POST, RequestMethod.PUT, RequestMethod.PATCH, RequestMethod.DELETE];

/** Every POST, PUT, PATCH and DELETE of the api-gateway's controllers, and what it does with a body. */
async function writes(): Promise<Write[]> {
  const out: Write[] = [];
  for (const file of controllerFiles()) {
    const exports = (await import(file)) as Record<string, unknown>;
    for (const controller of Object.values(exports)) {
      const base =
        typeof controller === 'function' ? (Reflect.getMetadata(PATH_METADATA, controller) as unknown) : undefined;
      if (typeof base !== 'string') {
        continue;
      }
      const proto = (controller as { prototype: Record<string, unknown> }).prototype;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const handler = proto[name];
        const method =
          typeof handler === 'function' ? (Reflect.getMetadata(METHOD_METADATA, handler) as unknown) : undefined;
        if (!WRITES.includes(method as RequestMethod)) {
          continue;
        }
        const path = Reflect.getMetadata(PATH_METADATA, handler as object) as string;
        const args = Object.keys(
          (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller as object, name) as object | undefined) ?? {},
        );
        const declared = args.some((k) => k.startsWith(`${RouteParamtypes.BODY}:`) || k.split(':')[0] === RAW_BODY);
        const interceptors =
          (Reflect.getMetadata(INTERCEPTORS_METADATA, handler as object) as unknown[] | undefined) ?? [];
        const prefix = base === '' || base === '/' ? '' : `/${base}`;
        out.push({
          route: `${RequestMethod[method as RequestMethod]} ${prefix}${path === '/' ? '' : `/${path}`}`,
          body: declared ? 'declared' : interceptors.includes(NO_BODY) ? 'none' : 'ignored',
        });
      }
    }
  }
  return out;
}

describe('actions and their bodies', () => {
  it('every POST, PUT, PATCH and DELETE reads its body or refuses one (@NoBody): none ignores it', async () => {
    const found = await writes();
    // The walk found the routes at all.
    expect(found.filter((w) => w.body === 'declared').length).toBeGreaterThan(10);
    expect(found.filter((w) => w.body === 'ignored')).toEqual([]);
    expect(
      found
        .filter((w) => w.body === 'none')
        .map((w) => w.route)
        .sort(),
    ).toEqual([
      'DELETE /api/v1/ai/admin/cache',
      'DELETE /api/v1/ai/admin/gateways/:gatewayId',
      'DELETE /api/v1/ai/admin/keys/:id',
      'DELETE /api/v1/ai/admin/providers/:providerId',
      'DELETE /api/v1/ai/admin/providers/:providerId/models/:model',
      'DELETE /api/v1/ai/preferences',
      'DELETE /api/v1/ai/preferences/:context',
      'POST /api/v1/ai/admin/providers/:id/circuit/reset',
      'POST /api/v1/ai/admin/providers/:id/test',
      'POST /api/v1/ai/admin/quotas/:userId/reset',
      'POST /api/v1/ai/jobs/:id/cancel',
    ]);
  });

  it('actionFields: none is {}, a field not allowed or a body not an object is a 400 naming it', () => {
    expect(actionFields(undefined, [])).toEqual({});
    expect(actionFields(null, ['enabled'])).toEqual({});
    expect(actionFields({ enabled: true }, ['enabled'])).toEqual({ enabled: true });
    const refused = (body: unknown, allowed: string[]): GatewayError => {
      try {
        actionFields(body, allowed);
      } catch (err) {
        return err as GatewayError;
      }
      throw new Error('expected a refusal');
    };
    expect(refused({ reason: 'x' }, [])).toMatchObject({
      param: 'reason',
      message: "Unknown field 'reason': this endpoint takes no body.",
    });
    expect(refused({ enabled: true, on: 1 }, ['enabled'])).toMatchObject({
      param: 'on',
      message: "Unknown field 'on': only 'enabled' may be sent.",
    });
    expect(refused([], [])).toBeInstanceOf(GatewayError);
    expect(refused('x', [])).toBeInstanceOf(GatewayError);
  });
});
