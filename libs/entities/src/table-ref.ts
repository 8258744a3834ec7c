import type { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';

/** `"schema"."table"` of an entity, for the few statements written as raw SQL. */
export function tableRef(dataSource: DataSource, entity: EntityTarget<ObjectLiteral>): string {
  const meta = dataSource.getMetadata(entity);
  const parts = meta.schema ? [meta.schema, meta.tableName] : [meta.tableName];
  return parts.map((p) => dataSource.driver.escape(p)).join('.');
}
