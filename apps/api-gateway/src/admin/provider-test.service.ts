import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  CatalogFileError,
  connectionTestKeyText,
  ControlPattern,
  type ConnectionSettingsOf,
  ErrorCode,
  GatewayError,
  readConnectionSettings,
  type ConnectionTestResult,
  type HealthProbeReply,
  type HealthProbeRequest,
  type UnsavedProviderSettings,
} from '@aigw/core';
import { CatalogService, ControlChannel, ENV } from '@aigw/platform';
import type { GatewayEnv } from '../config/gateway-env';
import { CatalogChanges } from './catalog-changes';
import { adminDocument, invalidConfiguration, notFound, NOTHING_STORED } from './catalog-docs';
import { PluginAllowance } from './plugin-check';
import type { TestProviderDto } from './provider-test.dto';

/** Connection tests run in the health-monitor; the gateway asks it over the control transport and relays. */
@Injectable()
export class ProviderTestService {
  constructor(
    @Inject(ENV) private readonly env: GatewayEnv,
    private readonly control: ControlChannel,
    private readonly plugins: PluginAllowance,
    private readonly changes: CatalogChanges,
    private readonly catalog: CatalogService,
  ) {}

  testSaved(providerId: string): Promise<ConnectionTestResult> {
    return this.ask({ providerId });
  }

  async testUnsaved(dto: TestProviderDto): Promise<ConnectionTestResult> {
    if (dto.apiKey !== undefined && dto.apiKeyFromGateway !== undefined) {
      throw new GatewayError(ErrorCode.InvalidRequest, "Send 'apiKey' or 'apiKeyFromGateway', not both.", {
        param: 'apiKeyFromGateway',
      });
    }
    if (dto.providerId !== undefined && dto.settingsOfGateway !== undefined) {
      throw new GatewayError(ErrorCode.InvalidRequest, "Send 'providerId' or 'settingsOfGateway', not both.", {
        param: 'settingsOfGateway',
      });
    }
    if (dto.plugin !== undefined) {
      // The health-monitor loads the module to test it: refused here first, as a save of it would be.
      this.plugins.assert(dto.plugin, 'plugin');
    }
    const provider: UnsavedProviderSettings = {
      kind: dto.kind,
      ...(await this.connection(dto)),
      routing: dto.routing,
    };
    for (const key of ['apiKeyFromGateway', 'gatewayId', 'healthPath', 'plugin', 'probe', 'models'] as const) {
      if (dto[key] !== undefined) {
        Object.assign(provider, { [key]: dto[key] });
      }
    }
    if (dto.providerId !== undefined && provider.apiKey === undefined && provider.apiKeyFromGateway === undefined) {
      // Changed settings of a saved provider that send no key keep its stored one, as its PATCH would: the Edit
      // form's key field is empty unless the key changes. Tested without a key, they failed with a 401 that saving
      // them would not meet. No more than a save allows: that PATCH sends the stored key to the URL it sets.
      provider.apiKeyFromProvider = dto.providerId;
    }
    return this.ask({ provider });
  }

  /**
   * The URL and key as saving these settings would store them (`${VAR}` in the key read from this process's
   * environment, as a create or PATCH reads it, and only the variables ADMIN_KEY_VARIABLES lists), so a test sends
   * what the provider would get once saved. With `providerId` (a form changing a saved provider), as a PATCH of that
   * provider reads them: its stored reference is accepted outside the list too. A provider seeded from PROVIDERS_FILE
   * with `${SOME_TOKEN}` took a PATCH sending that reference back, but a test of the very settings it would save was a
   * 400 naming `apiKey`. No more than a save allows: a PATCH of that provider may send its stored key to another
   * `baseUrl` already, and another provider's reference is still refused. Likewise with `settingsOfGateway` (the
   * console's Gateway screen changing a saved gateway), as a PATCH of that gateway reads them: its Save waits for a
   * passing Test, so a gateway seeded with `${LITELLM_TOKEN}` whose reference the admin typed back could not be saved,
   * though the PATCH would take it (and `apiKeyFromGateway` already sends its stored key to any URL tested).
   */
  private async connection(dto: TestProviderDto): Promise<{ baseUrl: string; apiKey?: string }> {
    let stored = NOTHING_STORED;
    let of: ConnectionSettingsOf | undefined;
    if (dto.providerId !== undefined) {
      const id = dto.providerId;
      const { catalog } = await this.changes.read((tx) => tx.state());
      const current = catalog.providers.find((p) => p.id === id);
      if (current === undefined) {
        throw notFound(`provider '${id}'`, 'providerId');
      }
      stored = { providers: [current], gateways: [] };
      of = { providerId: id };
    } else if (dto.settingsOfGateway !== undefined) {
      const id = dto.settingsOfGateway;
      const { catalog } = await this.changes.read((tx) => tx.state());
      const current = catalog.gateways.find((g) => g.id === id);
      if (current === undefined) {
        throw notFound(`gateway '${id}'`, 'settingsOfGateway');
      }
      stored = { providers: [], gateways: [current] };
      of = { gatewayId: id };
    }
    try {
      return readConnectionSettings(dto, process.env, adminDocument(this.env, stored), of);
    } catch (err) {
      throw err instanceof CatalogFileError ? invalidConfiguration(err, /^$/) : err;
    }
  }

  private async ask(request: HealthProbeRequest): Promise<ConnectionTestResult> {
    const { secrets } = this.catalog;
    let reply: HealthProbeReply | undefined;
    // A key typed into the form is sealed under SECRETS_KEY; a monitor that cannot open it (mid-rotation, still on
    // the old key alone) gets it again under each SECRETS_KEY_PREVIOUS in turn: one more round trip per key, only then.
    for (let keyIndex = 0; keyIndex < secrets.keyCount; keyIndex++) {
      // Every monitor replica hears the request; the test id lets them probe once between them.
      const testId = randomUUID();
      const message: HealthProbeRequest = {
        ...sealKey(request, testId, (text) => secrets.encrypt(text, keyIndex)),
        testId,
      };
      reply = await this.control.request<HealthProbeReply>(ControlPattern.HealthProbe, message, {
        service: 'health monitor',
        timeoutMs: this.env.CONNECTION_TEST_TIMEOUT_MS,
      });
      if (reply.ok || reply.reason !== 'sealed_key_unreadable') {
        break;
      }
    }
    if (reply === undefined) {
      throw new Error('a secrets box holds at least one key');
    }
    if (reply.ok) {
      return reply.result;
    }
    switch (reply.reason) {
      case 'provider_not_found':
        throw new GatewayError(ErrorCode.NotFound, reply.message, { param: reply.param ?? 'id' });
      case 'gateway_not_found':
        throw new GatewayError(ErrorCode.NotFound, reply.message, { param: reply.param ?? 'gatewayId' });
      case 'sealed_key_unreadable':
        // Neither SECRETS_KEY nor a previous one of this process is a key of the monitor's: a configuration fault.
        throw new GatewayError(ErrorCode.ServiceUnavailable, reply.message);
      case 'invalid_request':
        throw new GatewayError(
          ErrorCode.InvalidRequest,
          reply.message,
          reply.param === undefined ? undefined : { param: reply.param },
        );
    }
  }
}

/**
 * The request with a key typed into the form sealed (`sealedApiKey`) instead of in the clear: the message travels on
 * Redis pub/sub, where anyone who may SUBSCRIBE or MONITOR (or reads the slowlog) would read it. Sealed with
 * SECRETS_KEY as stored keys are, for this test's URL and id only. About 10 µs per test; no Redis round trip.
 */
function sealKey(request: HealthProbeRequest, testId: string, seal: (text: string) => string): HealthProbeRequest {
  if (!('provider' in request) || request.provider.apiKey === undefined) {
    return request;
  }
  const { apiKey, ...provider } = request.provider;
  const sealedApiKey = seal(connectionTestKeyText({ apiKey, baseUrl: provider.baseUrl, testId }));
  return { provider: { ...provider, sealedApiKey } };
}
