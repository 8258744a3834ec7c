import { acceptMediaTypes } from '@aigw/platform';
import type { FastifyInstance } from 'fastify';

/** YAML media types a config import accepts; the body arrives as text and the import parses it. */
export const YAML_CONTENT_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

export function installYamlBody(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(YAML_CONTENT_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  // The config import is the route that reads YAML: its 415 names both (the others take JSON alone).
  acceptMediaTypes(
    /^\/api\/v1\/ai\/admin\/config\/import(?:[/?]|$)/,
    'application/json or YAML (application/yaml or text/yaml)',
  );
}
