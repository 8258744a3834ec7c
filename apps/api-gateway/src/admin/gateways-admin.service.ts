import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GatewayError, type GatewaySpec } from '@aigw/core';
import { ENV } from '@aigw/platform';
import type { GatewayEnv } from '../config/gateway-env';
import type { AuthContext } from '../http/request-context';
import { actorOf } from './admin-views';
import { CatalogChanges, Unchanged } from './catalog-changes';
import { CircuitAdminService } from './circuit-admin.service';
import {
  adminDocument,
  fieldsOf,
  gatewayDoc,
  gatewayView,
  notFound,
  sameSettings,
  validateDocs,
  type GatewayView,
} from './catalog-docs';

const GATEWAY_PREFIX = /^gateways\[0\]\.?/;
/** A gateway document has no providers, so no plugin to allow. */
const NO_PLUGINS = (): boolean => false;

/** The OpenAI-compatible proxies (LiteLLM) providers can be routed through; keys write-only. */
@Injectable()
export class GatewaysAdminService {
  constructor(
    private readonly changes: CatalogChanges,
    private readonly circuits: CircuitAdminService,
    @Inject(ENV) private readonly env: GatewayEnv,
  ) {}

  async list(): Promise<{ data: GatewayView[] }> {
    const state = await this.changes.read((tx) => tx.state());
    return { data: state.catalog.gateways.map((g) => gatewayView(g, state.gatewaySources.get(g.id) ?? null)) };
  }

  async get(id: string): Promise<GatewayView> {
    const state = await this.changes.read((tx) => tx.state());
    const found = state.catalog.gateways.find((g) => g.id === id);
    if (found === undefined) {
      throw notFound(`gateway '${id}'`, 'gatewayId');
    }
    return gatewayView(found, state.gatewaySources.get(id) ?? null);
  }

  async create(body: unknown, auth: AuthContext): Promise<GatewayView> {
    const next = this.validate(fieldsOf(body));
    return this.changes.apply(null, async (tx) => {
      const state = await tx.state();
      if (state.catalog.gateways.some((g) => g.id === next.id)) {
        throw new GatewayError(ErrorCode.Conflict, `A gateway '${next.id}' already exists.`, { param: 'id' });
      }
      await tx.putGateway(next, { set: next.apiKey ?? null });
      const after = gatewayView(next, 'admin');
      await tx.audit({ actor: actorOf(auth), action: 'gateway.create', target: next.id, before: null, after });
      return after;
    });
  }

  /** `apiKey`: a new key (or `${VAR}`), `null` to drop it, absent to keep it. */
  async update(id: string, body: unknown, auth: AuthContext): Promise<GatewayView> {
    const fields = fieldsOf(body);
    if ('id' in fields) {
      throw new GatewayError(ErrorCode.InvalidRequest, "'id' cannot change (create a new gateway).", { param: 'id' });
    }
    let users: string[] = [];
    const view = await this.changes.apply(null, async (tx) => {
      const state = await tx.state();
      const current = state.catalog.gateways.find((g) => g.id === id);
      if (current === undefined) {
        throw notFound(`gateway '${id}'`, 'gatewayId');
      }
      const doc = gatewayDoc(current);
      let keep = true;
      for (const [key, value] of Object.entries(fields)) {
        keep = keep && key !== 'apiKey';
        if (value === null) {
          delete doc[key];
        } else {
          doc[key] = value;
        }
      }
      let next = this.validate(doc, current);
      if (keep) {
        const { apiKey: _none, apiKeyRef: _noRef, ...rest } = next;
        next = { ...rest, ...pick(current) };
      }
      const before = gatewayView(current, state.gatewaySources.get(id) ?? null);
      if (sameSettings(current, next, keep)) {
        return new Unchanged(before);
      }
      await tx.putGateway(next, keep ? { keep: true } : { set: next.apiKey ?? null });
      const after = gatewayView(next, 'admin');
      await tx.audit({ actor: actorOf(auth), action: 'gateway.update', target: id, before, after });
      if (!keep || next.baseUrl !== current.baseUrl || next.timeoutMs !== current.timeoutMs) {
        users = await tx.providersUsingGateway(id);
      }
      return after;
    });
    // The providers called through it are called differently now: what their circuits learnt is stale.
    for (const provider of users) {
      await this.circuits.forgetAfterChange(provider, 'gateway.update', auth);
    }
    return view;
  }

  /** 409 while a provider is routed through it. */
  async remove(id: string, auth: AuthContext): Promise<GatewayView> {
    return this.changes.apply(null, async (tx) => {
      const state = await tx.state();
      const current = state.catalog.gateways.find((g) => g.id === id);
      if (current === undefined) {
        throw notFound(`gateway '${id}'`, 'gatewayId');
      }
      const users = await tx.providersUsingGateway(id);
      if (users.length > 0) {
        throw new GatewayError(
          ErrorCode.Conflict,
          `Gateway '${id}' is used by provider(s) ${users.join(', ')}: route them elsewhere first.`,
          { param: 'gatewayId' },
        );
      }
      await tx.deleteGateway(id);
      const before = gatewayView(current, state.gatewaySources.get(id) ?? null);
      await tx.audit({ actor: actorOf(auth), action: 'gateway.delete', target: id, before, after: null });
      return before;
    });
  }

  /**
   * `current`: the stored gateway a change starts from; its `baseUrl` is checked only when it changes
   * (adminDocument), so one stored at a link-local address does not refuse a change of its timeout or key.
   */
  private validate(doc: Record<string, unknown>, current?: GatewaySpec): GatewaySpec {
    const docs = { gateways: [doc], providers: [] };
    const options = adminDocument(this.env, { providers: [], gateways: current === undefined ? [] : [current] });
    return validateDocs(docs, process.env, GATEWAY_PREFIX, NO_PLUGINS, options).gateways[0];
  }
}

function pick(g: GatewaySpec): Partial<GatewaySpec> {
  return {
    ...(g.apiKey === undefined ? {} : { apiKey: g.apiKey }),
    ...(g.apiKeyRef === undefined ? {} : { apiKeyRef: g.apiKeyRef }),
  };
}
