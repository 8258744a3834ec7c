import { InvalidEnvironmentError, validateEnv } from '@aigw/core';
import { MonitorEnv } from './monitor-env';

function problem(env: Record<string, string>): string {
  try {
    validateEnv(MonitorEnv, env);
  } catch (err) {
    if (err instanceof InvalidEnvironmentError) {
      return err.message;
    }
    throw err;
  }
  return '';
}

describe('MonitorEnv: ALERT_WEBHOOK_URL', () => {
  it('takes http(s) URLs, with credentials, on any port fetch may use', () => {
    for (const url of [
      'https://hooks.example.com/services/T0/B0/xyz',
      'http://ops:pw@127.0.0.1:8080/alerts',
      'http://127.0.0.1:3658/hook',
    ]) {
      expect(problem({ ALERT_WEBHOOK_URL: url })).toBe('');
    }
  });

  it('refuses a port fetch never connects to (every delivery would fail with "bad port")', () => {
    for (const url of ['http://127.0.0.1:3659/hook', 'http://alerts.internal:6000/', 'https://h.example:10080/x']) {
      expect(problem({ ALERT_WEBHOOK_URL: url })).toContain('ALERT_WEBHOOK_URL');
    }
  });
});

describe('MonitorEnv: HEALTH_SLOW_MS', () => {
  it('is at most 120000 (no probe outlasts the longest PROBE_TIMEOUT_MS), refused at boot naming it', () => {
    expect(problem({ HEALTH_SLOW_MS: '120000' })).toBe('');
    expect(problem({ HEALTH_SLOW_MS: '120001' })).toContain('HEALTH_SLOW_MS must not be greater than 120000');
  });
});
