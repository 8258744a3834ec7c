import type { FastifyInstance } from 'fastify';

/** YAML media types a config import accepts; the body arrives as text and the import parses it. */
export const YAML_CONTENT_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

export function installYamlBody(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(YAML_CONTENT_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));
}
