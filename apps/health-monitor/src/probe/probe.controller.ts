import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { ControlPattern, type HealthProbeReply } from '@aigw/core';
import { ConnectionTestService } from './connection-test.service';

/** `health.probe` requests from the api-gateway (request/reply over the namespaced control transport). */
@Controller()
export class ProbeController {
  constructor(private readonly tests: ConnectionTestService) {}

  @MessagePattern(ControlPattern.HealthProbe)
  probe(@Payload() message: unknown): Promise<HealthProbeReply> {
    return this.tests.handle(message);
  }
}
