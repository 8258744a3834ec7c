import { ConsoleLogger, Logger } from '@nestjs/common';
import { createLogger, type BaseEnv } from '@aigw/platform';

/** One line of the app's JSON log. */
export interface LogLine {
  level: string;
  message: string;
  context?: string;
}

/**
 * The log as the app writes it (its own logger, `createLogger`, with LOG_LEVEL `level` and LOG_FORMAT=json) read off
 * stdout and stderr: what an operator sees at that level, not which Logger method was called. Other writes (Jest's)
 * pass through. `stop` puts Nest's default logger back.
 */
export function captureAppLog(level: BaseEnv['LOG_LEVEL']): { lines: LogLine[]; stop(): void } {
  const lines: LogLine[] = [];
  const spies = (['stdout', 'stderr'] as const).map((stream) => {
    const write = process[stream].write.bind(process[stream]) as (chunk: unknown, ...rest: unknown[]) => boolean;
    return jest.spyOn(process[stream], 'write').mockImplementation((chunk: unknown, ...rest: unknown[]) => {
      const line = parsed(chunk);
      if (line === null) {
        return write(chunk, ...rest);
      }
      lines.push(line);
      return true;
    });
  });
  Logger.overrideLogger(createLogger({ LOG_LEVEL: level, LOG_FORMAT: 'json' }, 'test'));
  return {
    lines,
    stop(): void {
      Logger.overrideLogger(new ConsoleLogger());
      spies.forEach((spy) => spy.mockRestore());
    },
  };
}

function parsed(chunk: unknown): LogLine | null {
  if (typeof chunk !== 'string' || !chunk.startsWith('{"level":')) {
    return null;
  }
  try {
    return JSON.parse(chunk) as LogLine;
  } catch {
    return null;
  }
}
